"""The trained-model artifact: constructor config and weights (z-scoring statistics included).

One ``torch.save`` of plain types and tensors, so ``torch.load(weights_only=True)`` reads it
and serving rebuilds the architecture without the training code (STYLE.md §7).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from models.common import artifact
from models.expression.model import ExpressionConfig, ExpressionModel, build

FORMAT = 1
FAMILY = "expression"


@dataclass
class TrainedModel:
    model: ExpressionModel
    holdout_fold: int | None

    @property
    def config(self) -> ExpressionConfig:
        return self.model.config


def save(trained: TrainedModel, path: Path) -> Path:
    config = asdict(trained.config)
    payload = {
        "format": FORMAT,
        "family": FAMILY,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        "state_dict": {key: value.detach().cpu() for key, value in trained.model.state_dict().items()},
        "holdout_fold": trained.holdout_fold,
    }
    return artifact.write(path, payload)


def load(path: Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model from an artifact written by ``save``; ready for inference (eval mode)."""
    payload = artifact.read(path, FAMILY, FORMAT, device)
    model = build(ExpressionConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return TrainedModel(model=model, holdout_fold=payload["holdout_fold"])
