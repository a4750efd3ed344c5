"""The audio-emotion family's session fixtures: one tiny SYNTHETIC dataset, one tiny trained model."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def emotion_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The family's tiny CREMA-D-layout dataset with its S1-S4 partitions (read-only: copy to corrupt)."""
    from models.audio_emotion.spec import tiny_dataset
    from models.audio_emotion.synth import synthesize

    return synthesize(tiny_dataset(), tmp_path_factory.mktemp("audio-emotion") / "crema")


@pytest.fixture(scope="session")
def emotion_model(emotion_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The family's tiny config (All, UP, 3 rounds) trained on ``emotion_data`` with S4 held out."""
    from models.audio_emotion.spec import tiny_config
    from models.audio_emotion.train import train
    from models.common.tracking import NullTracker

    out = tmp_path_factory.mktemp("audio-emotion-model")
    return train(tiny_config(), emotion_data, NullTracker(), out_dir=out, holdout="S4", device="cpu")
