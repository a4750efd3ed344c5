"""Shared fixtures: tiny cohorts built once per session from the real generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import get_family

HEARING_LOSS = get_family("hearing_loss")


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 subjects, 5-6 minute sessions: the real format at test size (read-only: copy to corrupt)."""
    out = tmp_path_factory.mktemp("cohort") / "tiny"
    HEARING_LOSS.data.synthesize(HEARING_LOSS.data.tiny(), out)
    return out


@pytest.fixture(scope="session")
def tiny_split(tiny_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_cohort`` split into 5 subject-independent folds (read-only)."""
    from components.split import split_cohort

    out = tmp_path_factory.mktemp("split") / "tiny"
    split_cohort(tiny_cohort, 5, 0, out)
    return out


@pytest.fixture(scope="session")
def trained_tiny(tiny_split: Path, tmp_path_factory: pytest.TempPathFactory):
    """``trained_tiny(config) -> model.pt``: a real model trained on ``tiny_split`` with fold 0 held
    out, once per distinct config for the whole session (read-only: copy to change it)."""
    from models.common.tracking import NullTracker

    trained: dict[str, Path] = {}

    def get(config) -> Path:
        key = repr(config)  # the config dataclass is mutable, so unhashable; its repr names every field
        if key not in trained:
            out = tmp_path_factory.mktemp("tiny-model")
            trained[key] = HEARING_LOSS.train.train(
                config, tiny_split, NullTracker(), out_dir=out, holdout=0, device="cpu"
            )
        return trained[key]

    return get
