"""The trained-model artifact: constructor config, weights, age scaling and decision threshold.

One ``torch.save`` of plain types and tensors, so ``torch.load(weights_only=True)`` reads it
and serving rebuilds the exact architecture without the training code (STYLE.md §7).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

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
    holdout_fold: int | None

    @property
    def config(self) -> HearingLossConfig:
        return self.model.config


def save(trained: TrainedModel, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "family": FAMILY,
        "config": asdict(trained.config),
        "state_dict": {key: value.detach().cpu() for key, value in trained.model.state_dict().items()},
        "age_scaler": {"mean": trained.age_scaler.mean, "std": trained.age_scaler.std},
        "threshold": trained.threshold,
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
        raise ValueError(f"{path} is not a readable hearing-loss model artifact: {err}") from err
    if not isinstance(payload, dict) or payload.get("family") != FAMILY:
        raise ValueError(f"{path} is not a {FAMILY} model artifact")
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path} has artifact format {payload.get('format')}, this code reads {FORMAT}")
    model = build(HearingLossConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return TrainedModel(
        model=model,
        age_scaler=AgeScaler(**payload["age_scaler"]),
        threshold=float(payload["threshold"]),
        holdout_fold=payload["holdout_fold"],
    )
