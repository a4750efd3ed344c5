"""Training the hearing-loss detector (paper §3.2, §4.3) on CPU, one GPU, or DDP under torchrun.

Stages: variation-modeling pre-training of V with the triplet loss (Eq. 1; VM variants only),
then fine-tuning of the whole model with L = L_B (+ L_M behind the GRL for ABM). The state
after every epoch goes to ``<out>/last.pt``; a rerun with the same config resumes from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.common.folds import select_folds
from models.common.training import MODEL_FILE, FamilyTrainer, train_function
from models.hearing_loss import checkpoint
from models.hearing_loss.data import AgeScaler, SegmentReader, batches, load_split, shard
from models.hearing_loss.model import (
    HearingLossConfig,
    HearingLossModel,
    build,
    finetune_loss,
    triplet_loss,
    vm_embed,
)
from models.hearing_loss.sampling import sample_triplets

log = logging.getLogger(__name__)

STAGES = ("vm", "finetune")
LOG_EVERY_BATCHES = 50


class TripletEncoder(nn.Module):
    """V applied to a triplet, as one module so DDP sees the VM stage's forward pass."""

    def __init__(self, model: HearingLossModel) -> None:
        super().__init__()
        self.variation = model.variation

    def forward(self, *segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return vm_embed(self.variation, *segments)


class _Trainer(FamilyTrainer):
    config: HearingLossConfig

    def prepare(self) -> None:
        frame = load_split(self.data)
        self.frame = frame
        self.train_rows = select_folds(frame, self.holdout, train=True)
        if self.train_rows.empty:
            raise ValueError(f"no training segments in {self.data} with fold {self.holdout} held out")
        # paper §4.3: age z-scored over the training distribution (per segment)
        self.age_scaler = AgeScaler.fit(self.train_rows["age"].to_numpy())
        self.age_z = self.age_scaler.transform(frame["age"].to_numpy())
        self.labels = frame["hearing_loss"].to_numpy().astype(np.float32)
        self.anchors = frame["anchor_index"].to_numpy()
        self.reader = SegmentReader(self.data, frame)
        self.model = build(self.config).to(self.runtime.device)

    # -- driver -------------------------------------------------------------------------------

    def run(self, resume: bool) -> Path:
        stages = [("vm", self.config.vm_epochs)] if self.config.pretrains_vm else []
        stages.append(("finetune", self.config.epochs))
        state = self.state.load(self.model) if resume else None
        if self.runtime.is_main:
            self.tracker.log_params(
                {
                    **asdict(self.config),
                    "holdout_fold": self.holdout,
                    "train_segments": len(self.train_rows),
                    "train_subjects": self.train_rows["subject_id"].nunique(),
                    "world_size": self.runtime.world,
                    "device": str(self.runtime.device),
                }
            )
        for stage, epochs in stages:
            if state is not None and STAGES.index(state["stage"]) > STAGES.index(stage):
                continue  # finished before the interruption
            params = self.model.variation.parameters() if stage == "vm" else self.model.parameters()
            # paper §4.3: AdamW, lr 1e-4, for pre-training and fine-tuning alike
            optimizer = torch.optim.AdamW(params, lr=self.config.lr)
            start = 0
            if state is not None and state["stage"] == stage:
                optimizer.load_state_dict(state["optimizer"])
                start = state["epoch"]
                log.info("resuming %s at epoch %d/%d from %s", stage, start + 1, epochs, self.out_dir)
            state = None
            step = self._vm_epoch if stage == "vm" else self._finetune_epoch
            wrapped = self.runtime.wrap(TripletEncoder(self.model) if stage == "vm" else self.model)
            for epoch in range(start, epochs):
                self._epoch(stage, epoch, epochs, step, wrapped, optimizer)
        path = self.out_dir / MODEL_FILE
        if self.runtime.is_main:
            trained = checkpoint.TrainedModel(self.model, self.age_scaler, checkpoint.THRESHOLD, self.holdout)
            checkpoint.save(trained, path)
            self.tracker.log_artifact(path)
        self.runtime.barrier()
        return path

    def _epoch(
        self,
        stage: str,
        epoch: int,
        epochs: int,
        step: Callable[[nn.Module, np.random.Generator, torch.optim.Optimizer], tuple[dict[str, float], int]],
        wrapped: nn.Module,
        optimizer: torch.optim.Optimizer,
    ) -> None:
        # Seeds derive from (seed, stage, epoch): a resumed run draws what an uninterrupted one would
        stage_id = STAGES.index(stage)
        rng = np.random.default_rng([self.config.seed, stage_id, epoch])
        torch.manual_seed(self.config.seed * 10_000 + stage_id * 1_000 + epoch)
        self.model.train()
        started = time.perf_counter()
        totals, examples = step(wrapped, rng, optimizer)
        seconds = time.perf_counter() - started
        metrics = {f"{stage}_{name}": self.runtime.mean(value) for name, value in totals.items()}
        metrics[f"{stage}_examples_per_s"] = examples * self.runtime.world / seconds
        if self.runtime.is_main:
            self.tracker.log_metrics(metrics, step=epoch + 1)
            self.state.save(self.model, optimizer, stage=stage, epoch=epoch + 1)
            shown = " ".join(f"{key.split('_', 1)[1]} {value:.4f}" for key, value in metrics.items())
            log.info("%s epoch %d/%d: %s (%.1f s)", stage, epoch + 1, epochs, shown, seconds)
        self.runtime.barrier()

    # -- one epoch of each stage --------------------------------------------------------------

    def _vm_epoch(
        self, wrapped: nn.Module, rng: np.random.Generator, optimizer: torch.optim.Optimizer
    ) -> tuple[dict[str, float], int]:
        """Paper §3.2.2: triplets (s_n, s_q1, s_q2) of one subject, triplet loss Eq. 1."""
        triplets = sample_triplets(self.train_rows, rng, len(self.train_rows), self.config.noisy_levels)
        mine = shard(np.arange(len(triplets)), self.runtime.rank, self.runtime.world)
        losses: list[float] = []
        for i, chosen in enumerate(batches(mine, self.per_rank_batch)):
            segments = []
            for column in range(3):
                x, lengths = self.reader.pad(triplets[chosen, column])
                segments += [x.to(self.runtime.device), lengths]
            v_a, v_p, v_n = wrapped(*segments)
            loss = triplet_loss(v_a, v_p, v_n, self.config.triplet_margin)  # paper: Eq. 1
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            self._progress("vm", i, len(mine), losses)
        return {"triplet_loss": float(np.mean(losses))}, 3 * len(mine)

    def _finetune_epoch(
        self, wrapped: nn.Module, rng: np.random.Generator, optimizer: torch.optim.Optimizer
    ) -> tuple[dict[str, float], int]:
        """Paper §3.2.3: L = L_B + L_M, one stage (L_M only with the ABM age head)."""
        config, device = self.config, self.runtime.device
        order = rng.permutation(self.train_rows.index.to_numpy())
        mine = shard(order, self.runtime.rank, self.runtime.world)
        sums: dict[str, list[float]] = {}
        for i, rows in enumerate(batches(mine, self.per_rank_batch)):
            current, lengths = self.reader.pad(rows)
            inputs: dict[str, torch.Tensor] = {}
            if config.uses_anchor:
                anchor, anchor_lengths = self.reader.pad(self.anchors[rows])
                inputs.update(anchor=anchor.to(device), anchor_lengths=anchor_lengths)
            age_z = torch.from_numpy(self.age_z[rows]).to(device)
            if config.uses_age_input:
                inputs["age_z"] = age_z
            out = wrapped(current.to(device), lengths, **inputs)
            label = torch.from_numpy(self.labels[rows]).to(device)
            if config.has_age_head:
                losses = finetune_loss(out["logit"], label, out["age_z_hat"], age_z)
            else:
                losses = finetune_loss(out["logit"], label)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            for name, value in losses.items():
                sums.setdefault(name, []).append(value.item())
            self._progress("finetune", i, len(mine), sums["loss"])
        return {name: float(np.mean(values)) for name, values in sums.items()}, len(mine)

    def _progress(self, stage: str, batch: int, examples: int, losses: list[float]) -> None:
        if self.runtime.is_main and (batch + 1) % LOG_EVERY_BATCHES == 0:
            total = -(-examples // self.per_rank_batch)
            log.info("%s batch %d/%d: loss %.4f", stage, batch + 1, total, float(np.mean(losses[-50:])))


train = train_function(_Trainer)
