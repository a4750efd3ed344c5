"""Subject-independent folds, for every k-fold family: the folds file, attaching it, choosing folds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

FOLDS_FILE = "folds.parquet"  # written beside a dataset's tables by the family's split


def write_typed(path: Path, frame: pd.DataFrame, columns: Mapping[str, str]) -> Path:
    """``frame``'s ``columns`` with their dtypes as parquet at ``path`` (a hard link there is replaced,
    its target left alone)."""
    path = Path(path)
    path.unlink(missing_ok=True)  # may be a hard link shared with the dataset it was split from
    frame[list(columns)].astype(dict(columns)).to_parquet(path, index=False)
    return path


def read_folds(root: Path) -> pd.DataFrame:
    path = Path(root) / FOLDS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{root} has no {FOLDS_FILE}; run `affectops data split` on it first")
    return pd.read_parquet(path)


def attach_folds(table: pd.DataFrame, folds: pd.DataFrame, key: str, what: str) -> pd.DataFrame:
    """``table`` with an int ``fold`` column joined on ``key``; ValueError naming the ``what`` (sessions,
    videos) that sit in several folds or in none."""
    folds = folds[[key, "fold"]].drop_duplicates()
    repeated = folds[key][folds[key].duplicated()].unique()
    if len(repeated):
        raise ValueError(f"{what} assigned to more than one fold: {', '.join(map(str, repeated[:10]))}")
    frame = table.merge(folds, on=key, how="left", validate="many_to_one")
    if frame["fold"].isna().any():
        missing = sorted(frame.loc[frame["fold"].isna(), key].unique())
        raise ValueError(f"{what} without a fold in {FOLDS_FILE}: {', '.join(map(str, missing[:10]))}")
    frame["fold"] = frame["fold"].astype(int)
    return frame


def select_folds(frame: pd.DataFrame, holdout: int | None, *, train: bool) -> pd.DataFrame:
    """Training rows (every fold but ``holdout``) or test rows (fold ``holdout``).

    ``holdout=None`` trains on every fold (the model a user ships after cross-validation) and
    has no test rows.
    """
    if holdout is None:
        return frame if train else frame.iloc[0:0]
    folds = sorted(frame["fold"].unique())
    if holdout not in folds:
        raise ValueError(f"holdout fold {holdout} is not among the dataset's folds {folds}")
    return frame[frame["fold"] != holdout] if train else frame[frame["fold"] == holdout]


def evaluation_fold(trained_holdout: int | None, requested: int | None) -> int:
    """The fold to evaluate a model on: ``requested``, by default the one it held out; never one it
    trained on (subject-independent evaluation: a fold it saw would leak)."""
    fold = trained_holdout if requested is None else requested
    if fold is None:
        raise ValueError("the model was trained on every fold; name a fold of another dataset to evaluate on")
    if trained_holdout is not None and fold != trained_holdout:
        raise ValueError(f"fold {fold} is in this model's training data; it held out fold {trained_holdout}")
    return fold
