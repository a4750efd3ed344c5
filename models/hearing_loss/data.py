"""Training and evaluation views of a split cohort: folds, anchors, age scaling, padded batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.hearing_loss.cohort import FOLDS_FILE, FeatureStore, read_folds, read_manifest
from models.hearing_loss.sampling import anchor_index


def load_split(cohort: Path) -> pd.DataFrame:
    """The manifest with ``fold`` and ``anchor_index`` columns; RangeIndex labels are row positions."""
    cohort = Path(cohort)
    if not (cohort / FOLDS_FILE).exists():
        raise FileNotFoundError(f"{cohort} has no {FOLDS_FILE}; run `affectops data split` on it first")
    manifest = read_manifest(cohort)
    # folds.parquet has one row per (session, subject); a session sits in exactly one fold
    folds = read_folds(cohort)[["session_id", "fold"]].drop_duplicates()
    split_sessions = folds[folds["session_id"].duplicated()]["session_id"].unique()
    if len(split_sessions):
        raise ValueError(f"sessions assigned to more than one fold: {', '.join(split_sessions[:10])}")
    frame = manifest.merge(folds, on="session_id", how="left", validate="many_to_one")
    if frame["fold"].isna().any():
        missing = sorted(frame.loc[frame["fold"].isna(), "session_id"].unique())
        raise ValueError(f"sessions without a fold in {FOLDS_FILE}: {', '.join(missing[:10])}")
    frame["fold"] = frame["fold"].astype(int)
    frame["anchor_index"] = anchor_index(frame)
    return frame


def select_folds(frame: pd.DataFrame, holdout: int | None, *, train: bool) -> pd.DataFrame:
    """Training rows (every fold but ``holdout``) or test rows (fold ``holdout``) (paper §4.2).

    ``holdout=None`` trains on every fold (the model a user ships after cross-validation) and
    has no test rows.
    """
    if holdout is None:
        return frame if train else frame.iloc[0:0]
    folds = sorted(frame["fold"].unique())
    if holdout not in folds:
        raise ValueError(f"holdout fold {holdout} is not among the cohort's folds {folds}")
    return frame[frame["fold"] != holdout] if train else frame[frame["fold"] == holdout]


@dataclass(frozen=True)
class AgeScaler:
    """z-scoring of age (paper §4.3: 'normalized to 0 mean and 1 standard deviation')."""

    mean: float
    std: float

    @classmethod
    def fit(cls, ages: np.ndarray) -> AgeScaler:
        ages = np.asarray(ages, dtype=np.float64)
        std = float(ages.std())
        return cls(mean=float(ages.mean()), std=std if std > 0 else 1.0)

    def transform(self, ages: np.ndarray) -> np.ndarray:
        return ((np.asarray(ages, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


class SegmentReader:
    """Pads segments of one cohort into ``[B, T_max, D]`` tensors, reading memory-mapped features."""

    def __init__(self, cohort: Path, frame: pd.DataFrame) -> None:
        self.store = FeatureStore(cohort)
        self.files = frame["features_file"].to_numpy()
        self.offsets = frame["feature_offset"].to_numpy()
        self.lengths = frame["n_frames"].to_numpy()
        self.feature_dim = int(self.store.segment(self.files[0], 0, 1).shape[1]) if len(frame) else 0

    def pad(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of manifest rows ``rows`` right-padded with zeros, and their lengths."""
        lengths = self.lengths[rows]
        out = np.zeros((len(rows), int(lengths.max()), self.feature_dim), dtype=np.float32)
        for i, row in enumerate(rows):
            out[i, : lengths[i]] = self.store.segment(
                self.files[row], int(self.offsets[row]), int(lengths[i])
            )
        return torch.from_numpy(out), torch.from_numpy(lengths.astype(np.int64))


def shard(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's share of an epoch's order; wraps around so every rank takes as many steps (DDP)."""
    if world == 1:
        return order
    per_rank = -(-len(order) // world)
    padded = np.resize(order, per_rank * world)
    return padded[rank::world]


def batches(rows: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]
