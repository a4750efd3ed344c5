"""Split any family's cohort into subject-independent folds, without rewriting the input."""

from __future__ import annotations

from pathlib import Path

from core.storage import link_tree
from models import DEFAULT_FAMILY, get_family


def is_split(cohort: Path, family: str = DEFAULT_FAMILY) -> bool:
    return (Path(cohort) / get_family(family).folds_file).exists()


def split_cohort(
    cohort: Path, n_folds: int = 5, seed: int = 0, out: Path | None = None, *, family: str = DEFAULT_FAMILY
) -> Path:
    """Write the family's folds file into the cohort; returns its path.

    With ``out``, the split cohort is a new directory (the input's files hard-linked, plus the
    folds), so a pipeline or DVC stage never rewrites its input.
    """
    spec = get_family(family)
    if out is not None:
        if Path(out).exists():
            raise FileExistsError(f"{out} already exists")
        link_tree(cohort, out)
        cohort = out
    return spec.split(Path(cohort), n_folds, seed)
