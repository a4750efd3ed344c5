"""Session fixtures of the face-animation tests: one tiny synthetic dataset and one tiny trained model."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.face_animation.spec import tiny_dataset
from models.face_animation.synth import synthesize


@pytest.fixture(scope="session")
def face_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(tiny_dataset(), tmp_path_factory.mktemp("face_animation") / "data")


@pytest.fixture(scope="session")
def face_model(face_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config trained on the tiny dataset without its test partition (tracked locally)."""
    from models.common.tracking import LocalTracker
    from models.face_animation.spec import tiny_config
    from models.face_animation.train import train

    run = tmp_path_factory.mktemp("face_animation_run")
    return train(
        tiny_config(), face_dataset, LocalTracker(run / "tracking"), out_dir=run, holdout="test", device="cpu"
    )
