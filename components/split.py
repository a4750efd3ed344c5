"""Split any k-fold family's dataset into subject-independent folds, without rewriting the input.

A family with fixed partitions (train / test, S1-S4) carries them in its dataset: nothing to split.
"""

from __future__ import annotations

from pathlib import Path

from core.storage import link_tree
from models import DEFAULT_FAMILY, get_family
from models.contract import KFolds


def is_split(cohort: Path, family: str = DEFAULT_FAMILY) -> bool:
    """Whether ``cohort`` has its evaluation partitions: its folds file, or always for fixed partitions."""
    partitions = get_family(family).data.partitions
    return not isinstance(partitions, KFolds) or (Path(cohort) / partitions.file).exists()


def split_cohort(
    cohort: Path, n_folds: int = 5, seed: int = 0, out: Path | None = None, *, family: str = DEFAULT_FAMILY
) -> Path:
    """Write the family's folds file into the cohort; returns its path.

    With ``out``, the split cohort is a new directory (the input's files hard-linked, plus the
    folds), so a pipeline or DVC stage never rewrites its input.
    """
    partitions = get_family(family).data.partitions
    if not isinstance(partitions, KFolds):
        raise ValueError(
            f"family {family!r} has fixed partitions ({', '.join(partitions.names)}): nothing to split"
        )
    if out is not None:
        if Path(out).exists():
            raise FileExistsError(f"{out} already exists")
        link_tree(cohort, out)
        cohort = out
    return partitions.split(Path(cohort), n_folds, seed)
