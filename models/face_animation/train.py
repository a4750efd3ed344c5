"""Training in the paper's three steps (§4.2), on one process (CPU or one GPU).

Step 1: the content encoder (MLP_c, LSTM, MLP_t) with L_landmark. Step 2: the style encoder
(MLP_e, MLP_i, attention, MLP_s), the content encoder frozen, with L_emotion + L_identity +
L_landmark (``no_emotion``: L_landmark only; ``no_style``: no step 2). Step 3: the U-Net with
L_image. Adam, lr 1e-5, weight decay 1e-5 (§4.2). Every step sees ``epochs`` epochs of the
(V_r, V_s, V_p) triplets of the training partition (dataset.triplets), ``batch_size`` per step.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from models.common.training import MODEL_FILE, FamilyTrainer, train_function
from models.face_animation import checkpoint
from models.face_animation.data import Utterance, load_split, load_utterances, mean_face, select
from models.face_animation.dataset import read_video, triplets
from models.face_animation.images import landmark_images, to_tensor
from models.face_animation.losses import emotion_loss, identity_loss, image_loss, landmark_loss
from models.face_animation.model import build

log = logging.getLogger(__name__)
STEPS = ("content", "style", "image")


def clip_expressions(utterance: Utterance, stride: int) -> np.ndarray:
    """Eq. 5's e for one clip: the expression classifier's mean softmax over every ``stride``-th frame."""
    from models.face_animation.expression_model import classifier

    return classifier().probabilities(read_video(utterance.video)[::stride]).mean(axis=0)


class _Trainer(FamilyTrainer):
    def prepare(self) -> None:
        if self.runtime.world > 1:
            raise ValueError("the face-animation family trains on one process (no DDP)")
        table = select(load_split(self.data), self.holdout, train=True)
        self.face = mean_face(self.data, table)
        self.utterances = load_utterances(self.data, table, self.face)
        self.by_key = {u.key: u for u in self.utterances}
        self.table = table[["utterance_key", "video_id", "speaker_id"]]
        self.model = build(self.config).to(self.runtime.device)
        if self.config.variant == "full":  # λ of Eq. 5 (the other variants have no L_emotion)
            for utterance in self.utterances:
                utterance.expression = clip_expressions(utterance, self.config.es_stride)

    def _batch(self, clips: list[Utterance]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
        device = self.runtime.device
        windows = torch.from_numpy(np.concatenate([c.windows for c in clips])).to(device)
        reference = torch.from_numpy(np.stack([c.reference for c in clips])).to(device)
        target = torch.from_numpy(np.concatenate([c.aligned for c in clips])).to(device)
        return windows, reference, target, [len(c.windows) for c in clips]

    def _landmark_step(self, batch: list[tuple[str, str, str]], step: str) -> dict[str, float]:
        clips = [self.by_key[k] for triplet in batch for k in triplet]
        windows, reference, target, lengths = self._batch(clips)
        out = self.model.landmarks(windows, reference, lengths)
        losses = {"landmark": landmark_loss(out["landmarks"], target)}
        if step == "style" and self.config.variant == "full":
            emotion, identity = _clip_means(out["emotion"], lengths), _clip_means(out["identity"], lengths)
            e_r, e_s, e_p = emotion[0::3], emotion[1::3], emotion[2::3]
            p = torch.from_numpy(np.stack([c.expression for c in clips])).to(emotion.device)
            losses["emotion"] = emotion_loss(
                e_r, e_s, e_p, p[0::3], p[1::3], p[2::3], self.config.margin
            )  # paper: Eq. 5
            losses["identity"] = identity_loss(identity[0::3], identity[2::3])  # paper: Eq. 6 (V_r, V_p)
        return losses

    def _image_step(self, batch: list[tuple[str, str, str]], rng: np.random.Generator) -> dict[str, float]:
        size, frames = self.config.image_size, self.config.image_frames
        landmark, reference, target = [], [], []
        for key in {k for triplet in batch for k in triplet}:
            clip = self.by_key[key]
            video = read_video(clip.video)
            picked = np.sort(rng.choice(len(video), size=min(frames, len(video)), replace=False))
            landmark.append(landmark_images(clip.posed[picked], size))
            reference.append(to_tensor(video[:1], size).expand(len(picked), -1, -1, -1))
            target.append(to_tensor(video[picked], size))
        device = self.runtime.device
        m, i, t = (torch.cat(x).to(device) for x in (landmark, reference, target))
        return {"image": image_loss(self.model.unet(m, i), t)}  # paper: Eq. 11

    def _parameters(self, step: str) -> list[torch.nn.Parameter]:
        if step == "content":
            return list(self.model.landmarks.content.parameters())
        if step == "style":
            return list(self.model.landmarks.style.parameters())
        return list(self.model.unet.parameters())

    def run(self, resume: bool) -> Path:
        steps = [s for s in STEPS if s != "style" or self.config.has_style]
        done, saved_optimizer = self._resume_point() if resume else ((0, 0), None)
        self.tracker.log_params(
            {
                "train_utterances": len(self.utterances),
                "train_speakers": len({u.speaker_id for u in self.utterances}),
                "holdout": self.holdout,
                "device": str(self.runtime.device),
            }
        )
        for s, step in enumerate(steps):
            if s < done[0]:
                continue
            optimizer = torch.optim.Adam(
                self._parameters(step), lr=self.config.lr, weight_decay=self.config.weight_decay
            )
            if s == done[0] and saved_optimizer is not None:
                optimizer.load_state_dict(saved_optimizer)
            for epoch in range(done[1] if s == done[0] else 0, self.config.epochs):
                self._epoch(step, s, epoch, optimizer)
        path = self.out_dir / MODEL_FILE
        checkpoint.save(checkpoint.TrainedModel(self.model, self.holdout, self.face), path)
        self.tracker.log_artifact(path)
        return path

    def _epoch(self, step: str, index: int, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        # seeds derive from (seed, step, epoch): a resumed run draws what an uninterrupted one would
        rng = np.random.default_rng([self.config.seed, index, epoch])
        torch.manual_seed(self.config.seed * 10_000 + index * 1_000 + epoch)
        self.model.train()
        if step != "content":
            self.model.landmarks.content.eval()  # frozen after step 1: its BatchNorm statistics too
        batches = triplets(self.table, rng)
        order = rng.permutation(len(batches))
        started, sums, count = time.perf_counter(), {}, 0
        for first in range(0, len(order), self.config.batch_size):
            batch = [batches[i] for i in order[first : first + self.config.batch_size]]
            losses = self._image_step(batch, rng) if step == "image" else self._landmark_step(batch, step)
            optimizer.zero_grad(set_to_none=True)
            sum(losses.values()).backward()
            optimizer.step()
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value.item() * len(batch)
            count += len(batch)
        seconds = time.perf_counter() - started
        metrics = {f"{step}_{k}": v / max(count, 1) for k, v in sums.items()}
        metrics[f"{step}_triplets_per_s"] = count / seconds
        self.tracker.log_metrics(metrics, step=index * self.config.epochs + epoch + 1)
        self.state.save(self.model, optimizer, step=index, epoch=epoch + 1)
        log.info("%s epoch %d/%d: %s", step, epoch + 1, self.config.epochs, metrics)

    def _resume_point(self) -> tuple[tuple[int, int], dict | None]:
        """((step index, epochs done in it), its optimizer state) of an interrupted run of this
        fingerprint, else ((0, 0), None); the weights go into the model."""
        state = self.state.load(self.model)
        if state is None:
            return (0, 0), None
        return (int(state["step"]), int(state["epoch"])), state["optimizer"]


def _clip_means(per_frame: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """[N, D] frames of utterances of ``lengths`` -> [len(lengths), D] per-utterance means."""
    return torch.stack([part.mean(dim=0) for part in torch.split(per_frame, lengths)])


train = train_function(_Trainer)
