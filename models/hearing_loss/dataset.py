"""The hearing-loss cohort format: the platform's stand-in for RLR-CHAT (paper §4.1).

A cohort is a directory::

    cohort.json              format version, feature dim, fps, provenance (e.g. generator params)
    manifest.parquet         one row per segment (columns: MANIFEST_COLUMNS)
    features/<subject>.npy   float32 [sum of the subject's T, D], C order, one file per subject
    folds.parquet            written by the split step: session_id, subject_id, fold

A segment's features are rows ``feature_offset : feature_offset + n_frames`` of its subject's
file. One file per subject because every consumer reads by subject (folds are subject-
independent, variation-modeling triplets come from one subject), a subject's file is ~25 MB at
the paper's scale, and ``np.load(mmap_mode="r")`` slices one segment without reading the rest,
so training never holds the ~4 GB cohort in memory. DVC also de-duplicates per file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.folds import FOLDS_FILE, write_typed

FORMAT_VERSION = 1
FEATURE_DIM = 384  # paper §3.2.1: Marlin-Small features
FPS = 5  # paper §4.1: the glasses' RGB camera records at 5 fps
NOISE_LEVELS_DBA = (0, 55, 65, 75)  # paper §4.1: quiet, 55, 65 and 75 dBA
SEGMENT_SECONDS = (25.0, 35.0)  # paper §4.1: the noise level changes every 25-35 s
AGE_RANGE = (18, 90)  # Table 1 spans 18-88; accept up to 90
# paper Table 1: young 18-39, mid 40-56, old 57-88 (inclusive upper bounds)
AGE_GROUPS: dict[str, tuple[int, int]] = {"young": (18, 39), "mid": (40, 56), "old": (57, 90)}
GENDERS = ("female", "male", "other")

MANIFEST_FILE = "manifest.parquet"
META_FILE = "cohort.json"
FEATURES_DIR = "features"

MANIFEST_COLUMNS: dict[str, str] = {
    "subject_id": "string",
    "session_id": "string",
    "segment_id": "string",
    "segment_index": "int32",  # order of the segment within its session
    "noise_level_dba": "int16",
    "start_s": "float64",
    "end_s": "float64",
    "age": "int16",
    "age_group": "string",
    "gender": "string",
    "hearing_loss": "int8",
    "features_file": "string",  # relative to the cohort directory
    "feature_offset": "int64",
    "n_frames": "int32",
}
FOLDS_COLUMNS: dict[str, str] = {"session_id": "string", "subject_id": "string", "fold": "int8"}


def age_group(age: int) -> str:
    for name, (low, high) in AGE_GROUPS.items():
        if low <= age <= high:
            return name
    raise ValueError(f"age {age} is outside {AGE_RANGE}")


def read_meta(cohort: Path) -> dict:
    return json.loads((Path(cohort) / META_FILE).read_text())


def read_manifest(cohort: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(cohort) / MANIFEST_FILE)


def write_folds(cohort: Path, folds: pd.DataFrame) -> Path:
    return write_typed(Path(cohort) / FOLDS_FILE, folds, FOLDS_COLUMNS)


class FeatureStore:
    """Memory-mapped, read-only access to a cohort's per-segment feature arrays."""

    def __init__(self, cohort: Path) -> None:
        self.root = Path(cohort)
        self._open = lru_cache(maxsize=None)(self._mmap)

    def _mmap(self, relative: str) -> np.ndarray:
        return np.load(self.root / relative, mmap_mode="r")

    def segment(self, features_file: str, offset: int, n_frames: int) -> np.ndarray:
        """Features of one segment, ``[n_frames, D]`` float32 (a view into the mapped file)."""
        return self._open(features_file)[offset : offset + n_frames]

    def rows(self, manifest: pd.DataFrame) -> Iterator[np.ndarray]:
        for file, offset, n in manifest[["features_file", "feature_offset", "n_frames"]].itertuples(
            index=False
        ):
            yield self.segment(file, int(offset), int(n))


@dataclass
class CohortWriter:
    """Writes a cohort one subject at a time, so memory stays bounded by one subject."""

    root: Path
    feature_dim: int = FEATURE_DIM
    _rows: list[pd.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(f"{self.root} is not empty; a cohort is written into a new directory")
        (self.root / FEATURES_DIR).mkdir(parents=True)

    def add_subject(self, subject_id: str, segments: pd.DataFrame, features: Sequence[np.ndarray]) -> None:
        """``segments``: the subject's manifest rows without the feature reference columns."""
        if len(segments) != len(features):
            raise ValueError(f"{subject_id}: {len(segments)} segments but {len(features)} feature arrays")
        relative = f"{FEATURES_DIR}/{subject_id}.npy"
        lengths = np.array([len(f) for f in features], dtype=np.int64)
        stacked = np.concatenate(features).astype(np.float32, copy=False)
        if stacked.shape[1] != self.feature_dim:
            raise ValueError(f"{subject_id}: feature dim {stacked.shape[1]} != {self.feature_dim}")
        np.save(self.root / relative, stacked)
        rows = segments.copy()
        rows["features_file"] = relative
        rows["feature_offset"] = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        rows["n_frames"] = lengths
        self._rows.append(rows)

    def close(self, provenance: dict) -> pd.DataFrame:
        manifest = pd.concat(self._rows, ignore_index=True)[list(MANIFEST_COLUMNS)].astype(MANIFEST_COLUMNS)
        manifest.to_parquet(self.root / MANIFEST_FILE, index=False)
        meta = {"format_version": FORMAT_VERSION, "feature_dim": self.feature_dim, "fps": FPS}
        (self.root / META_FILE).write_text(json.dumps({**meta, "provenance": provenance}, indent=2))
        return manifest
