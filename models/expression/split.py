"""5-fold split by video, subject-independent (paper §4.6: K = 5, the official validation set is fold 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.expression.dataset import read_videos, write_folds


def _deal(groups: pd.DataFrame, folds: list[int], rng: np.random.Generator) -> dict[str, int]:
    """Subjects to folds, largest first to the fold with the fewest frames (balanced frame counts)."""
    groups = groups.iloc[rng.permutation(len(groups))].sort_values("frames", ascending=False, kind="stable")
    load = dict.fromkeys(folds, 0)
    out = {}
    for subject, frames in groups["frames"].items():
        fold = min(folds, key=lambda f: (load[f], f))
        out[subject] = fold
        load[fold] += int(frames)
    return out


def assign_folds(videos: pd.DataFrame, n_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """One row per video: ``video_id, subject_id, fold``; a subject's videos share a fold.

    With Aff-Wild2's official validation partition present, its videos are the last fold and the
    training videos fill the others (paper §4.6); without it all videos are dealt over ``n_folds``.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    by_subject = videos.groupby("subject_id").agg(
        frames=("n_frames", "sum"), partitions=("partition", "nunique")
    )
    mixed = by_subject.index[by_subject["partitions"] > 1]
    if len(mixed):
        raise ValueError(
            f"subjects with videos in both the train and validation partitions: {', '.join(mixed[:5])}"
        )
    rng = np.random.default_rng(seed)
    partition = videos.groupby("subject_id")["partition"].first()
    validation = partition.index[partition == "validation"]
    if len(validation):
        train = by_subject.drop(index=validation)
        if len(train) < n_folds - 1:
            raise ValueError(f"{len(train)} training subjects cannot fill {n_folds - 1} folds")
        assignment = _deal(train, list(range(n_folds - 1)), rng)
        assignment.update(dict.fromkeys(validation, n_folds - 1))
    else:
        if len(by_subject) < n_folds:
            raise ValueError(f"{len(by_subject)} subjects cannot fill {n_folds} folds")
        assignment = _deal(by_subject, list(range(n_folds)), rng)
    folds = videos[["video_id", "subject_id"]].copy()
    folds["fold"] = folds["subject_id"].map(assignment)
    return folds.sort_values("video_id", ignore_index=True)


def split(root: Path, n_folds: int = 5, seed: int = 0) -> Path:
    """Write ``folds.parquet`` beside the dataset's videos table (the family's ``split``); its path."""
    return write_folds(root, assign_folds(read_videos(root), n_folds, seed))
