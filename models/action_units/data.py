"""Training and evaluation views of an AU dataset: the frame table with folds, images and attention maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from models.action_units.attention import attention_maps
from models.action_units.dataset import frame_landmarks, frame_table, read_meta
from models.common.folds import attach_folds, read_folds


def load_split(root: Path) -> pd.DataFrame:
    """Every labelled frame with its subject's ``fold`` (the family's ``load``)."""
    return attach_folds(frame_table(root), read_folds(root), "subject_id", "subjects")


def read_images(root: Path, paths: list[str], size: int) -> np.ndarray:
    """uint8 [n, size, size, 3] RGB; ValueError naming a file of another size."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(Path(root) / path) as image:
            array = np.asarray(image.convert("RGB"))
        if array.shape[:2] != (size, size):
            raise ValueError(f"{path}: {array.shape[1]}x{array.shape[0]} px, the dataset declares {size}")
        out[i] = array
    return out


def read_frames(root: Path, frames: pd.DataFrame, aus: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The frames' images uint8 [n, S, S, 3] and attention maps float32 [n, K, S/16, S/16]."""
    size = int(read_meta(root)["image_size"])
    images = read_images(root, list(frames["image"]), size)
    points = frame_landmarks(root, frames)
    maps = np.stack([attention_maps(p, aus, size) for p in points]) if len(points) else np.zeros((0,))
    return images, maps
