"""The paper's 3-fold subject-independent protocol (§3.1, NOTES §1.6): the published parts as folds.

The parts are fixed lists, not a seeded draw, so ``split`` ignores its seed and its fold count (the
platform's pipeline and CLI pass 5 by default; another count is logged as ignored) and refuses any
subject outside the lists (a dataset of other subjects needs its own lists).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from models.action_units.aus import N_FOLDS, published_fold
from models.action_units.dataset import read_meta, sequences, write_folds

log = logging.getLogger(__name__)


def assign_folds(subjects: list[str], layout: str) -> pd.DataFrame:
    """subject_id, fold: each subject's published part (0-2)."""
    known = published_fold(layout)
    unknown = sorted(set(subjects) - set(known))
    if unknown:
        raise ValueError(f"subjects outside the published {layout} folds: {', '.join(unknown[:10])}")
    return pd.DataFrame(
        {"subject_id": sorted(set(subjects)), "fold": [known[s] for s in sorted(set(subjects))]}
    )


def split(root: Path, n_folds: int = N_FOLDS, seed: int = 0) -> Path:
    """Write ``folds.parquet`` (the family's ``split``): the published parts, whatever ``n_folds`` and
    ``seed`` say."""
    del seed
    if n_folds != N_FOLDS:
        log.warning(
            "the paper's protocol has %d fixed subject folds; n_folds=%d is ignored", N_FOLDS, n_folds
        )
    layout = read_meta(root)["layout"]
    return write_folds(root, assign_folds(list(sequences(root)["subject_id"]), layout))
