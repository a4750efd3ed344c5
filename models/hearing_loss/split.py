"""Subject-independent k-fold split (paper §4.2: "all sessions are partitioned into five folds")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.hearing_loss.dataset import read_manifest, write_folds


def assign_folds(manifest: pd.DataFrame, n_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Assign whole sessions (and so both of their subjects) to folds.

    Sessions are shuffled with ``seed``, ordered by their positive subjects and dealt out in a snake
    order, so folds get equal session counts and similar positive rates. Choice: with an
    ``age_group`` column, sessions are ordered by their positives in the group with the fewest
    positives first (young: 18% in the paper), so every fold's per-group F1 has positives to score
    wherever the cohort has enough. Returns one row per subject: ``session_id, subject_id, fold``.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    subjects = manifest.groupby("subject_id", sort=True).agg(
        session_id=("session_id", "first"),
        sessions=("session_id", "nunique"),
        hearing_loss=("hearing_loss", "max"),
    )
    shared = subjects.index[subjects["sessions"] > 1]
    if len(shared):
        raise ValueError(f"subjects in more than one session cannot be split by session: {list(shared[:5])}")
    sessions = subjects.groupby("session_id")["hearing_loss"].sum().rename("positives").to_frame()
    if len(sessions) < n_folds:
        raise ValueError(f"{len(sessions)} sessions cannot fill {n_folds} folds")
    order_by = ["positives"]
    if "age_group" in manifest:
        groups = manifest.groupby("subject_id")["age_group"].first()
        by_group = subjects.assign(age_group=groups).pivot_table(
            index="session_id", columns="age_group", values="hearing_loss", aggfunc="sum", fill_value=0
        )
        rarest_first = by_group.sum().sort_values(kind="stable").index
        by_group = by_group[rarest_first].add_prefix("positives_")
        sessions = sessions.join(by_group)
        order_by = [*by_group.columns, "positives"]
    sessions = sessions.reset_index()
    rng = np.random.default_rng(seed)
    sessions = sessions.iloc[rng.permutation(len(sessions))]
    sessions = sessions.sort_values(order_by, ascending=False, kind="stable")
    order = np.arange(len(sessions))
    lap, pos = np.divmod(order, n_folds)
    sessions["fold"] = np.where(lap % 2 == 0, pos, n_folds - 1 - pos)
    folds = subjects.reset_index()[["session_id", "subject_id"]].merge(
        sessions[["session_id", "fold"]], on="session_id"
    )
    return folds.sort_values("subject_id", ignore_index=True)


def split(cohort: Path, n_folds: int = 5, seed: int = 0) -> Path:
    """Write ``folds.parquet`` beside the cohort's manifest (the family's ``split``); its path."""
    return write_folds(cohort, assign_folds(read_manifest(cohort), n_folds, seed))
