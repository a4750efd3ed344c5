"""The trained-model artifact: the config, the whole Image2Audio (translator, Dis_s, Dis_t, the
spectrogram statistics) and the held-out partition, in one ``torch.save`` of plain types."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.audio_emotion.model import AudioEmotionConfig, Image2Audio, build
from models.common import artifact
from models.common.training import fingerprint

FORMAT = 1
FAMILY = "audio_emotion"


@dataclass
class TrainedModel:
    model: Image2Audio
    holdout: str | None  # the partition it never saw (S4: the paper's test partition)

    @property
    def config(self) -> AudioEmotionConfig:
        return self.model.config

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.config, self.holdout)


def save(trained: TrainedModel, path: Path) -> Path:
    payload = artifact.module_payload(FAMILY, FORMAT, trained.model, trained.config, holdout=trained.holdout)
    return artifact.write(path, payload)


def load(path: Path, device: str | torch.device = "cpu") -> TrainedModel:
    payload = artifact.read(path, FAMILY, FORMAT, device)
    return TrainedModel(
        model=artifact.load_module(payload, build, AudioEmotionConfig, device), holdout=payload["holdout"]
    )
