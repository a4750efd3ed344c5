"""The trained-model artifact: constructor config, weights, the average face alignment uses (§3.1)
and the partition it never saw; ``torch.load(weights_only=True)`` reads it (STYLE.md §7)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.common import artifact
from models.common.training import fingerprint
from models.face_animation.model import FaceAnimationConfig, FaceAnimator, build

FORMAT = 1
FAMILY = "face_animation"


@dataclass
class TrainedModel:
    model: FaceAnimator
    holdout: str | None  # the partition it never saw
    mean_face: np.ndarray  # float64 [68, 3]: the training data's average landmarks, ICP's target

    @property
    def config(self) -> FaceAnimationConfig:
        return self.model.config

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.config, self.holdout)


def save(trained: TrainedModel, path: Path) -> Path:
    payload = artifact.module_payload(
        FAMILY,
        FORMAT,
        trained.model,
        trained.config,
        holdout=trained.holdout,
        mean_face=torch.as_tensor(trained.mean_face, dtype=torch.float64),
    )
    return artifact.write(path, payload)


def load(path: Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model from an artifact written by ``save``; ready for inference (eval mode)."""
    payload = artifact.read(path, FAMILY, FORMAT, device)
    return TrainedModel(
        model=artifact.load_module(payload, build, FaceAnimationConfig, device),
        holdout=payload["holdout"],
        mean_face=payload["mean_face"].cpu().numpy(),
    )
