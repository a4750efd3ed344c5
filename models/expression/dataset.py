"""The expression dataset format: Aff-Wild2's expression set (paper §4.1) with per-frame features.

A dataset is a directory::

    dataset.json                  format version, features present {name: dim}, provenance
    videos.parquet                one row per video (columns: VIDEO_COLUMNS)
    annotations/<video>.txt       Aff-Wild2 layout: class header, then one label per frame (-1 invalid)
    faces/<video>.npy             int64 [n_faces]: sorted frame indices that have a face image
    features/<name>/<video>.npy   float32; visual: [n_faces, dim] (one row per face frame),
                                  audio: [n_frames, dim] (aligned to the video's frame rate)
    folds.parquet                 written by the split step: video_id, subject_id, fold

Visual features exist only where Aff-Wild2's cropped-aligned set has a face image; the frames
without one take the temporally nearest face frame's row when read (paper §3.1), so the stored
files stay what an extractor writes. One file per (feature, video): any subset of features is
read without touching the others (Tables 2 and 4 combine subsets), and ``np.load(mmap_mode="r")``
reads one segment of a video without the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.folds import FOLDS_FILE, write_typed
from models.expression.annotations import nearest_face, read_annotation
from models.expression.features import FEATURES, is_visual

FORMAT_VERSION = 1
META_FILE = "dataset.json"
VIDEOS_FILE = "videos.parquet"
ANNOTATIONS_DIR = "annotations"
FACES_DIR = "faces"
FEATURES_DIR = "features"
PARTITIONS = ("train", "validation")  # Aff-Wild2's official split; validation is fold 5 (§4.6)

VIDEO_COLUMNS: dict[str, str] = {
    "video_id": "string",
    "subject_id": "string",  # videos of one person (or one recording) stay in one fold
    "partition": "string",
    "n_frames": "int32",
    "fps": "float64",
}
FOLDS_COLUMNS: dict[str, str] = {"video_id": "string", "subject_id": "string", "fold": "int8"}
MAPPED_FILES = 256


def annotation_path(root: Path, video: str) -> Path:
    return Path(root) / ANNOTATIONS_DIR / f"{video}.txt"


def faces_path(root: Path, video: str) -> Path:
    return Path(root) / FACES_DIR / f"{video}.npy"


def feature_path(root: Path, name: str, video: str) -> Path:
    return Path(root) / FEATURES_DIR / name / f"{video}.npy"


def read_meta(root: Path) -> dict:
    path = Path(root) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{root} has no {META_FILE}; not an expression dataset")
    return json.loads(path.read_text())


def read_videos(root: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(root) / VIDEOS_FILE)


def write_folds(root: Path, folds: pd.DataFrame) -> Path:
    return write_typed(Path(root) / FOLDS_FILE, folds, FOLDS_COLUMNS)


def write_dataset(root: Path, videos: pd.DataFrame, features: Sequence[str], provenance: dict) -> None:
    """Write ``videos.parquet`` and ``dataset.json``; annotation, face and feature files go beside."""
    root = Path(root)
    write_typed(root / VIDEOS_FILE, videos, VIDEO_COLUMNS)
    meta = {
        "format_version": FORMAT_VERSION,
        "features": {name: FEATURES[name][1] for name in features},
        "provenance": provenance,
    }
    (root / META_FILE).write_text(json.dumps(meta, indent=2))


class VideoStore:
    """Reads a video's labels and fused features, visual rows completed by the nearest face frame."""

    def __init__(self, root: Path, features: Sequence[str]) -> None:
        self.root = Path(root)
        present = read_meta(self.root).get("features", {})
        missing = [name for name in features if name not in present]
        if missing:
            raise ValueError(
                f"features {', '.join(missing)} are not in {self.root} "
                f"(it has {', '.join(present) or 'none'})"
            )
        self.features = tuple(features)
        # bounded: each memory map holds a file descriptor, and the paper's scale has ~2,700 files
        self._array = lru_cache(maxsize=MAPPED_FILES)(self._mmap)
        self.labels = lru_cache(maxsize=None)(self._labels)
        self.rows = lru_cache(maxsize=None)(self._rows)

    def _mmap(self, name: str, video: str) -> np.ndarray:
        return np.load(feature_path(self.root, name, video), mmap_mode="r")

    def _labels(self, video: str) -> np.ndarray:
        return read_annotation(annotation_path(self.root, video))

    def _rows(self, video: str) -> np.ndarray:
        """Visual feature row of every frame (paper §3.1: frames without a face take the nearest)."""
        faces = np.load(faces_path(self.root, video))
        return nearest_face(faces, len(self.labels(video)))

    def window(self, video: str, start: int, stop: int) -> np.ndarray:
        """Concatenated features of frames ``start:stop``, float32 ``[stop - start, sum of dims]``."""
        parts = []
        for name in self.features:
            array = self._array(name, video)
            if is_visual(name):
                parts.append(np.asarray(array[self.rows(video)[start:stop]]))
            else:
                parts.append(np.asarray(array[start:stop]))
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)
