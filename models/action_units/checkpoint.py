"""The trained AU detector's artifact: constructor config, the frozen encoder f, the linear probe and
the training folds' relation matrix (the pre-training's g, q and target are discarded, Fig. 1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.action_units.model import AUConfig, AUDetector, build
from models.common import artifact
from models.common.training import fingerprint

FORMAT = 1
FAMILY = "action_units"


@dataclass
class TrainedModel:
    model: AUDetector
    holdout: int | None  # the fold it never saw

    @property
    def config(self) -> AUConfig:
        return self.model.config

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.config, self.holdout)


def save(trained: TrainedModel, path: Path) -> Path:
    payload = artifact.module_payload(
        FAMILY, FORMAT, trained.model, trained.config, holdout_fold=trained.holdout
    )
    return artifact.write(path, payload)


def load(path: Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the detector from an artifact written by ``save``; ready for inference (eval mode)."""
    payload = artifact.read(path, FAMILY, FORMAT, device)
    model = artifact.load_module(payload, build, AUConfig, device)
    return TrainedModel(model=model, holdout=payload["holdout_fold"])
