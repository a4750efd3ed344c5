"""Shared fixtures: tiny cohorts built once per session from the real generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.hearing_loss.synth import SynthConfig, synthesize

TINY = SynthConfig(subjects=10, session_seconds=(300.0, 400.0), seed=0)


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 subjects, 5-6 minute sessions: the real format at test size (read-only: copy to corrupt)."""
    out = tmp_path_factory.mktemp("cohort") / "tiny"
    synthesize(TINY, out)
    return out


@pytest.fixture(scope="session")
def tiny_split(tiny_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_cohort`` split into 5 subject-independent folds (read-only)."""
    from components.split import split_cohort

    out = tmp_path_factory.mktemp("split") / "tiny"
    split_cohort(tiny_cohort, 5, 0, out)
    return out
