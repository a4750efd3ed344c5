"""The trained-model artifact: constructor config and weights (z-scoring statistics included).

One ``torch.save`` of plain types and tensors, so ``torch.load(weights_only=True)`` reads it
and serving rebuilds the architecture without the training code (STYLE.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.common import artifact
from models.common.training import fingerprint
from models.expression.model import ExpressionConfig, ExpressionModel, build

FORMAT = 1
FAMILY = "expression"


@dataclass
class TrainedModel:
    model: ExpressionModel
    holdout: int | None  # the fold it never saw

    @property
    def config(self) -> ExpressionConfig:
        return self.model.config

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.config, self.holdout)


def save(trained: TrainedModel, path: Path) -> Path:
    payload = artifact.module_payload(
        FAMILY, FORMAT, trained.model, trained.config, holdout_fold=trained.holdout
    )
    return artifact.write(path, payload)


def load(path: Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model from an artifact written by ``save``; ready for inference (eval mode)."""
    payload = artifact.read(path, FAMILY, FORMAT, device)
    return TrainedModel(
        model=artifact.load_module(payload, build, ExpressionConfig, device), holdout=payload["holdout_fold"]
    )
