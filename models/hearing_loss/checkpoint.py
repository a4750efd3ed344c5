"""The trained-model artifact: constructor config, weights, age scaling and decision threshold.

One ``torch.save`` of plain types and tensors, so ``torch.load(weights_only=True)`` reads it
and serving rebuilds the exact architecture without the training code (STYLE.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.common import artifact
from models.common.training import fingerprint
from models.hearing_loss.data import AgeScaler
from models.hearing_loss.model import HearingLossConfig, HearingLossModel, build

FORMAT = 1
FAMILY = "hearing_loss"
THRESHOLD = 0.5  # choice: the paper reports F1 without a tuned threshold; 0.5 on the probability


@dataclass
class TrainedModel:
    model: HearingLossModel
    age_scaler: AgeScaler
    threshold: float
    holdout: int | None  # the fold it never saw

    @property
    def config(self) -> HearingLossConfig:
        return self.model.config

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.config, self.holdout)


def save(trained: TrainedModel, path: Path) -> Path:
    payload = artifact.module_payload(
        FAMILY,
        FORMAT,
        trained.model,
        trained.config,
        age_scaler={"mean": trained.age_scaler.mean, "std": trained.age_scaler.std},
        threshold=trained.threshold,
        holdout_fold=trained.holdout,
    )
    return artifact.write(path, payload)


def load(path: Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model from an artifact written by ``save``; ready for inference (eval mode)."""
    payload = artifact.read(path, FAMILY, FORMAT, device)
    return TrainedModel(
        model=artifact.load_module(payload, build, HearingLossConfig, device),
        age_scaler=AgeScaler(**payload["age_scaler"]),
        threshold=float(payload["threshold"]),
        holdout=payload["holdout_fold"],
    )
