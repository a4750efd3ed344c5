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
