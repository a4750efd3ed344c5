"""The trained-model artifact: constructor config and weights (z-scoring statistics included).

One ``torch.save`` of plain types and tensors, so ``torch.load(weights_only=True)`` reads it
and serving rebuilds the architecture without the training code (STYLE.md §7).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = asdict(trained.config)
    payload = {
        "format": FORMAT,
        "family": FAMILY,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        "state_dict": {key: value.detach().cpu() for key, value in trained.model.state_dict().items()},
        "holdout_fold": trained.holdout_fold,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: a reader never sees half a model
    return path


def load(path: Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model from an artifact written by ``save``; ready for inference (eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model artifact at {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for a truncated or foreign file
        raise ValueError(f"{path} is not a readable expression model artifact: {err}") from err
    if not isinstance(payload, dict) or payload.get("family") != FAMILY:
        raise ValueError(f"{path} is not a {FAMILY} model artifact")
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path} has artifact format {payload.get('format')}, this code reads {FORMAT}")
    model = build(ExpressionConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return TrainedModel(model=model, holdout_fold=payload["holdout_fold"])
