"""Aff-Wild2's expression annotation files and the completion of frames without a face (paper §3.1).

An annotation file holds one video: a header line naming the 8 classes, then one integer label
per frame (0-7, or -1 for a frame without a usable annotation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.expression.features import CLASSES, INVALID_LABEL, N_CLASSES

# Aff-Wild2's header: the class names, capitalised, comma separated
HEADER = ",".join(name.capitalize() for name in CLASSES)


def read_annotation(path: Path) -> np.ndarray:
    """Labels of one video, int64 ``[n_frames]``; ValueError naming the file and line on bad content."""
    path = Path(path)
    lines = path.read_text().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty annotation file; expected the header {HEADER!r}")
    header = [part.strip().lower() for part in lines[0].split(",")]
    if tuple(header) != CLASSES:
        raise ValueError(f"{path}: line 1 must be the class header {HEADER!r}, got {lines[0]!r}")
    labels = np.empty(len(lines) - 1, dtype=np.int64)
    for number, line in enumerate(lines[1:], start=2):
        try:
            value = int(line.strip())
        except ValueError:
            raise ValueError(f"{path}: line {number}: label {line!r} is not an integer") from None
        if not INVALID_LABEL <= value < N_CLASSES:
            raise ValueError(f"{path}: line {number}: label {value} is not in -1..{N_CLASSES - 1}")
        labels[number - 2] = value
    if not len(labels):
        raise ValueError(f"{path}: no frame labels after the header")
    return labels


def write_annotation(path: Path, labels: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *(str(int(label)) for label in labels)]) + "\n")
    return path


def nearest_face(face_frames: np.ndarray, n_frames: int) -> np.ndarray:
    """For every frame, the row of the temporally nearest frame that has a face (paper §3.1).

    ``face_frames``: sorted, distinct 0-based indices of the frames with a face image, one visual
    feature row each. A frame with a face maps to its own row; a tie goes to the earlier frame.
    """
    faces = np.asarray(face_frames, dtype=np.int64)
    if faces.ndim != 1 or not len(faces):
        raise ValueError("face_frames must be a non-empty 1-D array of frame indices")
    if faces[0] < 0 or faces[-1] >= n_frames or (np.diff(faces) <= 0).any():
        raise ValueError(f"face_frames must be sorted, distinct and within 0..{n_frames - 1}")
    frames = np.arange(n_frames)
    after = np.clip(np.searchsorted(faces, frames), 0, len(faces) - 1)
    before = np.clip(after - 1, 0, len(faces) - 1)
    take_before = np.abs(frames - faces[before]) <= np.abs(faces[after] - frames)
    return np.where(take_before, before, after)
