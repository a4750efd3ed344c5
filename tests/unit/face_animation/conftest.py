"""Session fixtures of the face-animation tests: one tiny synthetic dataset and one tiny trained model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from models.face_animation.synth import SynthConfig, synthesize


def tiny_synth() -> SynthConfig:
    """3 dev speakers and 1 test speaker, 2 videos of 2 short utterances each, 32² frames."""
    return replace(
        SynthConfig(),
        dev_speakers=3,
        test_speakers=1,
        videos=2,
        utterances=2,
        words=(1, 2),
        frame_size=32,
        seed=5,
    )


@pytest.fixture(scope="session")
def face_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(tiny_synth(), tmp_path_factory.mktemp("face_animation") / "data")
