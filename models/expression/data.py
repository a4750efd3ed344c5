"""Training and evaluation views of a split dataset: folds, feature statistics, padded segments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.common.folds import attach_folds, read_folds
from models.expression.dataset import VideoStore, read_videos


def load_split(root: Path) -> pd.DataFrame:
    """The videos table with a ``fold`` column (the family's ``load_data``)."""
    return attach_folds(read_videos(root), read_folds(root), "video_id", "videos")


def feature_stats(store: VideoStore, videos: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std over every frame of ``videos`` (streamed one video at a time)."""
    total = count = squares = 0.0
    for video, n in videos[["video_id", "n_frames"]].itertuples(index=False):
        x = store.window(video, 0, int(n)).astype(np.float64)
        total = total + x.sum(axis=0)
        squares = squares + (x**2).sum(axis=0)
        count += len(x)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def pad_segments(
    store: VideoStore, segments: Sequence[tuple[str, int, int]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(video, start, stop)`` windows right-padded: features [B, T, D], labels [B, T] (-1 on
    padding) and the mask of real frames [B, T]."""
    longest = max(stop - start for _, start, stop in segments)
    windows = [store.window(video, start, stop) for video, start, stop in segments]
    x = np.zeros((len(segments), longest, windows[0].shape[1]), dtype=np.float32)
    y = np.full((len(segments), longest), -1, dtype=np.int64)
    mask = np.zeros((len(segments), longest), dtype=bool)
    for i, ((video, start, stop), window) in enumerate(zip(segments, windows, strict=True)):
        x[i, : stop - start] = window
        y[i, : stop - start] = store.labels(video)[start:stop]
        mask[i, : stop - start] = True
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


def batches(items: Sequence, batch_size: int) -> list[Sequence]:
    return [items[start : start + batch_size] for start in range(0, len(items), batch_size)]
