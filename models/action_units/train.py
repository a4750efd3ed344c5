"""Training the AU detector (paper §2, §3.1): self-supervised pre-training on the unlabelled pool, then
the linear probe on the frozen encoder with the training folds' labels. CPU or one GPU.

Pre-training: two augmented views per image (``augment.py``), Eq. 7 over both directions, AdamW with
lr = lr_base * batch / 256 on a per-step cosine decay to 0 and weight decay on a cosine from 0.04 to
0.4 (DINO's recipe, paper §3.1; no decay on biases and norms, as DINO), the target's EMA after every
step with m on BYOL's cosine schedule from ``ema_base`` to 1 (Eq. 1). The relation matrix M comes from
the training folds' labels (Eq. 4). State after each pre-training epoch goes to ``last.pt``; a rerun
resumes. Probe: features of the training frames from the frozen encoder (eval mode, no augmentation),
Adam on the masked per-AU BCE.

Not yet: DDP under torchrun (BYOL's batch-norm statistics would need SyncBatchNorm to give one
process's result); a distributed run is refused.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.action_units import checkpoint
from models.action_units.attention import attention_maps
from models.action_units.augment import VIEWS, augment
from models.action_units.aus import au_columns
from models.action_units.data import load_split, read_frames, read_images
from models.action_units.dataset import pool_table, read_meta
from models.action_units.losses import ema_momentum
from models.action_units.model import RRL, AUConfig, AUDetector, normalise, probe_loss, standardise
from models.action_units.relation import relation_matrix
from models.common.folds import select_folds
from models.common.training import MODEL_FILE, FamilyTrainer, train_function

log = logging.getLogger(__name__)
FEATURE_CHUNK = 64  # frames per forward pass when the probe's features are extracted


def cosine(start: float, end: float, step: int, total: int) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * step / max(total, 1))) / 2


def batches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled full batches (a last partial one dropped: BYOL's batch norm needs equal batches)."""
    order = rng.permutation(n)
    if n < size:
        return [order]
    return [order[i : i + size] for i in range(0, n - size + 1, size)]


class _Trainer(FamilyTrainer):
    config: AUConfig

    def prepare(self) -> None:
        if self.runtime.distributed:
            raise ValueError("action_units trains in one process (CPU or one GPU); DDP is not supported yet")
        meta = read_meta(self.data)
        if meta["layout"] != self.config.layout or meta["image_size"] != self.config.image_size:
            raise ValueError(
                f"{self.data} is a {meta['layout']} dataset of {meta['image_size']} px; the config wants "
                f"{self.config.layout} at {self.config.image_size} px (set layout / image_size)"
            )
        self.frames = select_folds(load_split(self.data), self.holdout, train=True)
        if self.frames.empty:
            raise ValueError(f"no training frames in {self.data} with fold {self.holdout} held out")
        self.labels = self.frames[au_columns(self.config.aus)].to_numpy().astype(np.int64)
        self.relation = relation_matrix(self.labels)  # paper: Eq. 4, training folds only
        self.pool, self.pool_points = pool_table(self.data)
        if len(self.pool) < 2:
            raise ValueError(
                f"{self.data} has {len(self.pool)} unlabelled pool images; pre-training needs >= 2"
            )
        torch.manual_seed(self.config.seed)
        self.rrl = RRL(self.config).to(self.runtime.device)

    def _pool_batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.image_size
        images = read_images(self.data, list(self.pool["image"].iloc[rows]), size)
        maps = np.stack([attention_maps(self.pool_points[i], self.config.aus, size) for i in rows])
        device = self.runtime.device
        return normalise(torch.from_numpy(images).to(device)), torch.from_numpy(maps).to(device)

    def _optimizer(self) -> torch.optim.Optimizer:
        decay, plain = [], []
        for module in self.rrl.online():
            for p in module.parameters():
                (plain if p.ndim <= 1 else decay).append(p)
        return torch.optim.AdamW([{"params": decay}, {"params": plain, "weight_decay": 0.0}], lr=self.lr)

    @property
    def lr(self) -> float:
        return self.config.lr_base * self.config.batch_size / 256  # paper §3.1

    def pretrain(self, resume: bool) -> dict[str, float]:
        config, device = self.config, self.runtime.device
        optimizer = self._optimizer()
        start = 0
        if resume and (state := self.state.load(self.rrl)) is not None:
            optimizer.load_state_dict(state["optimizer"])
            start = int(state["epoch"])
            log.info("resuming pre-training at epoch %d/%d", start + 1, config.epochs)
        relation = torch.from_numpy(self.relation).to(device)
        per_epoch = len(batches(len(self.pool), config.batch_size, np.random.default_rng(0)))
        total = per_epoch * config.epochs
        metrics: dict[str, float] = {}
        for epoch in range(start, config.epochs):
            rng = np.random.default_rng(
                [config.seed, epoch]
            )  # a resumed run draws what an uninterrupted one would
            generator = torch.Generator().manual_seed(config.seed * 10_000 + epoch)
            self.rrl.train()
            self.rrl.target_encoder.train()  # BYOL: the target's batch norm uses batch statistics too
            sums: dict[str, float] = {}
            started, seen = time.perf_counter(), 0
            for i, rows in enumerate(batches(len(self.pool), config.batch_size, rng)):
                step = epoch * per_epoch + i
                for group in optimizer.param_groups:
                    group["lr"] = cosine(self.lr, 0.0, step, total)
                optimizer.param_groups[0]["weight_decay"] = cosine(*config.weight_decay, step, total)
                images, maps = self._pool_batch(rows)
                view1, maps1 = augment(images, maps, VIEWS[0], generator)
                view2, maps2 = augment(images, maps, VIEWS[1], generator)
                out = self.rrl(standardise(view1), maps1, standardise(view2), maps2, relation)
                optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                optimizer.step()
                self.rrl.update_target(ema_momentum(step, total, config.ema_base))  # paper: Eq. 1
                for key, value in out.items():
                    sums[key] = sums.get(key, 0.0) + float(value.detach())
                seen += len(rows)
            seconds = time.perf_counter() - started
            metrics = {f"pretrain_{k}": v / per_epoch for k, v in sums.items()}
            metrics["pretrain_images_per_s"] = seen / seconds
            self.tracker.log_metrics(metrics, step=epoch + 1)
            self.state.save(self.rrl, optimizer, epoch=epoch + 1)
            log.info(
                "pre-training epoch %d/%d: loss %.4f (%.1f s)",
                epoch + 1,
                config.epochs,
                metrics["pretrain_loss"],
                seconds,
            )
        return metrics

    @torch.no_grad()
    def _features(self, detector: AUDetector, frames: pd.DataFrame) -> torch.Tensor:
        detector.eval()
        parts = []
        for first in range(0, len(frames), FEATURE_CHUNK):
            images, maps = read_frames(self.data, frames.iloc[first : first + FEATURE_CHUNK], self.config.aus)
            device = self.runtime.device
            parts.append(
                detector.features(torch.from_numpy(images).to(device), torch.from_numpy(maps).to(device))
            )
        return torch.cat(parts)

    def fit_probe(self) -> tuple[AUDetector, dict[str, float]]:
        """The linear probe on the frozen encoder (§3.1)."""
        config = self.config
        detector = AUDetector(config).to(self.runtime.device)
        detector.encoder.load_state_dict(self.rrl.encoder.state_dict())
        detector.encoder.requires_grad_(False)
        detector.relation.copy_(torch.from_numpy(self.relation))
        features = self._features(detector, self.frames)
        labels = torch.from_numpy(self.labels).to(self.runtime.device)
        optimizer = torch.optim.Adam(detector.probe.parameters(), lr=config.probe_lr)
        rng = np.random.default_rng([config.seed, 1_000_003])
        loss = torch.zeros(())
        detector.probe.train()
        for _ in range(config.probe_epochs):
            for rows in batches(len(features), config.probe_batch_size, rng):
                if len(rows) < 2:
                    continue
                index = torch.from_numpy(rows).to(self.runtime.device)
                loss = probe_loss(detector.probe(features[index]), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        return detector.eval(), {"probe_loss": float(loss.detach())}

    def run(self, resume: bool) -> Path:
        self.tracker.log_params(
            {
                **asdict(self.config),
                "holdout_fold": self.holdout,
                "train_frames": len(self.frames),
                "pool_images": len(self.pool),
                "device": str(self.runtime.device),
            }
        )
        self.pretrain(resume)
        detector, metrics = self.fit_probe()
        self.tracker.log_metrics(metrics, step=self.config.epochs)
        path = checkpoint.save(
            checkpoint.TrainedModel(detector.cpu(), self.holdout), self.out_dir / MODEL_FILE
        )
        self.tracker.log_artifact(path)
        return path


train = train_function(_Trainer)
