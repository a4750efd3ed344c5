"""Training and evaluation views of a dataset: spectrograms per partition, faces as arrays."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from models.audio_emotion.corpus import CLASSES
from models.audio_emotion.dataset import clips, frame_path, image_table, read_meta
from models.audio_emotion.spectrogram import decode_wav, spectrogram


def load(root: Path) -> pd.DataFrame:
    """The clips table with each clip's partition (the family's ``load``)."""
    return clips(root)


def classes(root: Path) -> tuple[str, ...]:
    return CLASSES[read_meta(root)["corpus"]]


def labels(table: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    return np.array([names.index(e) for e in table["emotion"]], dtype=np.int64)


def spectrograms(root: Path, table: pd.DataFrame) -> np.ndarray:
    """[N, 156, 64] float32, one per clip of ``table`` (paper §3)."""
    return np.stack([spectrogram(decode_wav(str(Path(root) / p))) for p in table["path"]])


def read_face(path: Path, size: int) -> np.ndarray:
    """A face image as [size, size] float32 in [-1, 1]."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    if image.shape != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image.astype(np.float32) / 127.5 - 1.0


def ifer(root: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The IFER images [M, size, size] and their class indices (the labelled source domain D_s)."""
    table = image_table(root)
    names = classes(root)
    table = table[table["emotion"].isin(names)]
    faces = np.stack([read_face(Path(root) / p, size) for p in table["path"]])
    return faces, labels(table, names)


def paired_frames(root: Path, table: pd.DataFrame, size: int) -> np.ndarray:
    """Each clip's own face frame [N, size, size] (setting P's pairing); FileNotFoundError when absent."""
    paths = [frame_path(root, clip) for clip in table["clip"]]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"setting P needs every clip's face frame; missing {missing[0]} and {len(missing) - 1} more"
        )
    return np.stack([read_face(p, size) for p in paths])
