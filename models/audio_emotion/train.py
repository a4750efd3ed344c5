"""Round-based co-training of the translation unit and Dis_t (paper §2.2, Eq. 8, Eq. 9), CPU or one GPU.

Every round (an epoch) first labels D_u along reliability paths (§2.3) with Dis_t's current
features, then takes as many steps as the labelled and unlabelled clips fill batches. A step:

1. Discriminators. Faces of a random IFER batch are translated (GAN_{s->t}); their IWAE density
   (§2.2) puts the densest epsilon share into D_t with the face's label and the rest into D_g,
   epsilon rising 0 -> 0.8 over the rounds. Dis_t minimizes Eq. 9 negated: -log P(y|x) on D_t (S1,
   the dense translations, reliability-labelled D_u), -log P(K+1|x) on D_g, -log P(y<K+1|x) and the
   conditional entropy on D_u, plus lambda S (graph smoothness over the batch's D_t and D_u).
   Dis_s learns real faces from translated ones (GAN_{t->s}).
2. Translator (Eq. 8): VAE_s, VAE_t (KL + L1), GAN_{s->t} (class-aware: the translation of a face of
   class y should be real class y to Dis_t), GAN_{t->s}, cycles s->t->s and t->s->t (KL + L1). In
   setting P the source batch is the clips' own face frames and both GAN terms become L1 to the
   paired ground truth (§2.4, fixed-point learning [39]).

Table 1's rows switch the sources off (model.uses); Base trains Dis_t on S1 alone. Partitions: S1 is
labelled, every other partition but the held-out one unlabelled (S2 + S3 when S4 is held out).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.audio_emotion import checkpoint
from models.audio_emotion.data import classes, ifer, labels, load, paired_frames, spectrograms
from models.audio_emotion.dataset import LABELLED, read_meta
from models.audio_emotion.density import epsilon, iwae_log_density, split_by_density
from models.audio_emotion.graph import reliability_labels, smoothness
from models.audio_emotion.losses import (
    class_nll,
    conditional_entropy,
    discriminator_adversarial,
    fake_nll,
    generator_adversarial,
    kl,
    real_nll,
)
from models.audio_emotion.model import AudioEmotionConfig, Image2Audio, build, uses
from models.common.training import MODEL_FILE, FamilyTrainer, train_function

log = logging.getLogger(__name__)


class _Optimizers:
    """The translator's and the discriminators' Adam, saved and restored together."""

    def __init__(self, model: Image2Audio, config: AudioEmotionConfig) -> None:
        def adam(params) -> torch.optim.Adam:  # NOTES-wave2 §3.1
            return torch.optim.Adam(
                params, lr=config.lr, betas=(0.5, 0.999), weight_decay=config.weight_decay
            )

        self.generator = adam(model.unit.parameters())
        self.discriminator = adam([*model.dis_s.parameters(), *model.dis_t.parameters()])

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])


class _Trainer(FamilyTrainer):
    config: AudioEmotionConfig

    def prepare(self) -> None:
        if self.runtime.world > 1:
            raise ValueError("audio_emotion trains on one process (CPU or one GPU), not under torchrun")
        corpus = read_meta(self.data)["corpus"]
        if corpus != self.config.corpus:
            raise ValueError(
                f"{self.data} holds {corpus}; the config is for {self.config.corpus} (set corpus=)"
            )
        table = load(self.data)
        if self.holdout in LABELLED:
            raise ValueError(
                f"holdout {self.holdout}: S1 is the only labelled partition, it cannot be held out"
            )
        self.labelled = table[table["partition"].isin(LABELLED)].reset_index(drop=True)
        self.unlabelled = table[~table["partition"].isin([*LABELLED, self.holdout])].reset_index(drop=True)
        if self.labelled.empty:
            raise ValueError(f"{self.data}: no labelled clips in S1")
        names = classes(self.data)
        device = self.runtime.device
        torch.manual_seed(self.config.seed)
        self.model: Image2Audio = build(self.config)
        x_l, x_u = spectrograms(self.data, self.labelled), spectrograms(self.data, self.unlabelled)
        pooled = np.concatenate([x_l, x_u]) if len(x_u) else x_l
        self.model.spec_mean.fill_(float(pooled.mean()))
        self.model.spec_std.fill_(float(pooled.std()) or 1.0)
        self.model.to(device)
        tensor = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
        self.x_l = self.model.normalize(tensor(x_l))
        self.y_l = tensor(labels(self.labelled, names))
        self.x_u = self.model.normalize(tensor(x_u)) if len(x_u) else self.x_l[:0]
        self.u_truth = labels(self.unlabelled, names)  # diagnostics of the reliability path only
        self.use = uses(self.config.variant)
        if self.use["translation"]:
            faces, face_labels = ifer(self.data, self.config.image_size)
            self.x_s, self.y_s = tensor(faces), tensor(face_labels)
            if self.config.setting == "P":
                train_clips = [self.labelled, self.unlabelled]
                frames = np.concatenate(
                    [paired_frames(self.data, t, self.config.image_size) for t in train_clips]
                )
                self.frames = tensor(frames)
        self.optimizers = _Optimizers(self.model, self.config)

    def run(self, resume: bool) -> Path:
        start = self._resume() if resume else 0
        n_train = len(self.x_l) + len(self.x_u)
        self.tracker.log_params(
            {
                **asdict(self.config),
                "holdout": self.holdout,
                "labelled_clips": len(self.x_l),
                "unlabelled_clips": len(self.x_u),
                "ifer_images": len(self.x_s) if self.use["translation"] else 0,
                "device": str(self.runtime.device),
            }
        )
        steps = max(1, math.ceil(n_train / self.config.batch_size))
        for round_ in range(start, self.config.epochs):
            rng = np.random.default_rng([self.config.seed, round_])  # a resumed run draws the same batches
            torch.manual_seed(self.config.seed * 10_000 + round_)
            started = time.perf_counter()
            metrics: dict[str, float] = {
                "epsilon": epsilon(round_, self.config.epochs, self.config.epsilon_max)
            }
            reliable = self._reliability(metrics)
            sums: dict[str, list[float]] = {}
            self.model.train()
            for _ in range(steps):
                for key, value in self._step(rng, metrics["epsilon"], reliable).items():
                    sums.setdefault(key, []).append(value)
            metrics.update({key: float(np.mean(v)) for key, v in sums.items()})
            metrics["clips_per_s"] = steps * self.config.batch_size / (time.perf_counter() - started)
            self.tracker.log_metrics(metrics, step=round_ + 1)
            self.state.save(self.model, self.optimizers, epoch=round_ + 1)
            log.info("round %d/%d: %s", round_ + 1, self.config.epochs, metrics)
        path = self.out_dir / MODEL_FILE
        checkpoint.save(checkpoint.TrainedModel(self.model, self.holdout), path)
        self.tracker.log_artifact(path)
        return path

    @torch.no_grad()
    def _reliability(self, metrics: dict[str, float]) -> torch.Tensor:
        """Per unlabelled clip, its reliability-path label or -1 (§2.3), from Dis_t's current features."""
        none = torch.full((len(self.x_u),), -1, dtype=torch.long, device=self.x_u.device)
        if not self.use["reliability"] or not len(self.x_u):
            return none
        self.model.eval()
        features = torch.cat([self.model.dis_t(x)[1] for x in (self.x_l, self.x_u)]).cpu().numpy()
        known = np.concatenate([self.y_l.cpu().numpy(), np.full(len(self.x_u), -1)])
        out = reliability_labels(features, known, self.config.graph_beta)[len(self.x_l) :]
        labelled = out >= 0
        metrics["reliable_share"] = float(labelled.mean())
        if labelled.any():  # how often the path is right, from labels training never sees
            metrics["reliable_accuracy"] = float((out[labelled] == self.u_truth[labelled]).mean())
        return torch.from_numpy(out).to(self.x_u.device)

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(0, n, size=min(self.config.batch_size, max(n, 1)))

    def _step(self, rng: np.random.Generator, eps: float, reliable: torch.Tensor) -> dict[str, float]:
        c, model = self.config, self.model
        li = torch.from_numpy(self._draw(rng, len(self.x_l)))
        x_l, y_l = self.x_l[li], self.y_l[li]
        if not self.use["translation"]:  # Base: labelled spectrograms only
            logits, _ = model.dis_t(x_l)
            loss = F.cross_entropy(logits, y_l)
            self.optimizers.discriminator.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizers.discriminator.step()
            return {"dis_t": loss.item()}
        ui = torch.from_numpy(self._draw(rng, len(self.x_u))) if len(self.x_u) else None
        x_u = self.x_u[ui] if ui is not None else self.x_l[:0]
        si = torch.from_numpy(self._draw(rng, len(self.x_s)))
        x_s, y_s = self.x_s[si], self.y_s[si]
        out = self._discriminator_step(x_l, y_l, x_u, reliable[ui] if ui is not None else None, x_s, y_s, eps)
        if c.setting == "P":  # the source batch: the real clips' own faces, paired with them
            ti = torch.cat([li, len(self.x_l) + ui]) if ui is not None else li
            out.update(self._translator_step(self.frames[ti], y_s, torch.cat([x_l, x_u]), paired=True))
        else:
            out.update(self._translator_step(x_s, y_s, torch.cat([x_l, x_u]), paired=False))
        return out

    def _discriminator_step(self, x_l, y_l, x_u, reliable, x_s, y_s, eps: float) -> dict[str, float]:
        c, model, unit = self.config, self.model, self.model.unit
        with torch.no_grad():
            x_st = unit.decode(unit.sample(unit.encode(x_s, "s")), "t")
            density = iwae_log_density(unit, x_st, c.iwae_samples, c.laplace_scale)
            high, low = split_by_density(density, eps)
        # D_t: S1, the dense translations with their face's class, D_u along reliability paths
        x_t, y_t = [x_l], [y_l]
        if self.use["high"] and len(high):
            x_t.append(x_st[high])
            y_t.append(y_s[high])
        if reliable is not None and self.use["reliability"] and (reliable >= 0).any():
            x_t.append(x_u[reliable >= 0])
            y_t.append(reliable[reliable >= 0])
        n_l, n_t, n_u = len(x_l), sum(len(x) for x in x_t), len(x_u)
        x_g = x_st[low] if self.use["low"] and len(low) else x_st[:0]
        logits, features = model.dis_t(torch.cat([*x_t, x_u, x_g]))
        l_t, l_u, l_g = logits[:n_t], logits[n_t : n_t + n_u], logits[n_t + n_u :]
        loss_t = class_nll(l_t, torch.cat(y_t))
        out = {"dis_t_labelled": loss_t.item()}
        loss = loss_t
        if len(l_g):
            loss_g = fake_nll(l_g)
            loss = loss + loss_g
            out["dis_t_fake"] = loss_g.item()
        if n_u:
            loss_u = real_nll(l_u) + c.entropy_weight * conditional_entropy(l_u)
            # S over this batch's real D_t and D_u nodes: one-hot on S1, Dis_t's softmax on D_u
            f = torch.cat([features[:n_l], features[n_t : n_t + n_u]])
            y = torch.cat([F.one_hot(y_l, len(c.classes)).float(), F.softmax(l_u, 1)])
            s = smoothness(f, y, c.graph_beta, c.graph_gamma)
            loss = loss + loss_u + c.smooth_weight * s
            out.update(dis_t_unlabelled=loss_u.item(), smoothness=s.item())
        if c.setting == "UP":
            with torch.no_grad():
                x_ts = unit.decode(unit.sample(unit.encode(torch.cat([x_l, x_u]), "t")), "s")
            loss_s = discriminator_adversarial(model.dis_s(x_s), model.dis_s(x_ts))
            loss = loss + loss_s
            out["dis_s"] = loss_s.item()
        self.optimizers.discriminator.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers.discriminator.step()
        out["dense_share"] = len(high) / max(len(x_st), 1)
        return out

    def _translator_step(self, x_s, y_s, x_t, *, paired: bool) -> dict[str, float]:
        """Eq. 8's translator terms on a source batch ``x_s`` (IFER faces, or in P the clips' own faces)."""
        c, model, unit = self.config, self.model, self.model.unit
        mu_s, mu_t = unit.encode(x_s, "s"), unit.encode(x_t, "t")
        z_s, z_t = unit.sample(mu_s), unit.sample(mu_t)
        vae = c.kl_weight * (kl(mu_s) + kl(mu_t)) + c.recon_weight * (
            F.l1_loss(unit.decode(z_s, "s"), x_s) + F.l1_loss(unit.decode(z_t, "t"), x_t)
        )
        x_st, x_ts = unit.decode(z_s, "t"), unit.decode(z_t, "s")
        if paired:  # §2.4: GAN terms -> L1 to the ground-truth translation
            translation = c.paired_weight * (F.l1_loss(x_st, x_t) + F.l1_loss(x_ts, x_s))
        else:
            logits, _ = model.dis_t(x_st)
            # class-aware GAN_{s->t}: real class y to Dis_t; without D_g Dis_t has no fake class to
            # play, so the term keeps the class only (choice)
            st = class_nll(logits, y_s) if self.use["low"] else F.cross_entropy(logits, y_s)
            translation = c.gan_weight * (st + generator_adversarial(model.dis_s(x_ts)))
        mu_st, mu_ts = unit.encode(x_st, "t"), unit.encode(x_ts, "s")
        cycle = c.cycle_kl_weight * (kl(mu_st) + kl(mu_ts)) + c.cycle_recon_weight * (
            F.l1_loss(unit.decode(unit.sample(mu_st), "s"), x_s)
            + F.l1_loss(unit.decode(unit.sample(mu_ts), "t"), x_t)
        )
        loss = vae + translation + cycle
        self.optimizers.generator.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers.generator.step()
        self.optimizers.discriminator.zero_grad(set_to_none=True)  # the translator's gradients stop here
        return {"vae": vae.item(), "translation": translation.item(), "cycle": cycle.item()}

    def _resume(self) -> int:
        state = self.state.load(self.model)
        if state is None:
            return 0
        self.optimizers.load_state_dict(state["optimizer"])
        log.info("resuming at round %d/%d from %s", state["epoch"] + 1, self.config.epochs, self.out_dir)
        return int(state["epoch"])


train = train_function(_Trainer)
