"""Training and evaluation views of a split cohort: folds, anchors, age scaling, padded batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.common.folds import attach_folds, read_folds
from models.hearing_loss.dataset import FeatureStore, read_manifest
from models.hearing_loss.sampling import anchor_index


def load_split(cohort: Path) -> pd.DataFrame:
    """The manifest with ``fold`` and ``anchor_index`` columns; RangeIndex labels are row positions.

    folds.parquet has one row per (session, subject); a session sits in exactly one fold.
    """
    frame = attach_folds(read_manifest(cohort), read_folds(cohort), "session_id", "sessions")
    frame["anchor_index"] = anchor_index(frame)
    return frame


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
