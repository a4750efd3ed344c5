"""Cutting a video into segments of length l with stride p (paper §3.3)."""

from __future__ import annotations

import numpy as np


def segment_starts(n_frames: int, length: int, stride: int) -> np.ndarray:
    """0-based first frames of the segments of an ``n_frames`` video.

    Paper §3.3: ``[n/p] + 1`` segments, the i-th holding frames ``(i-1)p+1 .. (i-1)p+l``. A
    segment that would start past the last frame (when p divides n) is dropped; the last ones
    may be shorter than l, which the reader pads.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if length < 1 or stride < 1:
        raise ValueError(f"segment length and stride must be >= 1, got l={length}, p={stride}")
    if stride > length:
        raise ValueError(f"stride {stride} > segment length {length} would skip frames")
    starts = np.arange(n_frames // stride + 1) * stride
    return starts[starts < n_frames]


def segment_table(n_frames: dict[str, int], length: int, stride: int) -> list[tuple[str, int, int]]:
    """``(video, start, stop)`` of every segment of every video, videos in the order given."""
    return [
        (video, int(start), int(min(start + length, n)))
        for video, n in n_frames.items()
        for start in segment_starts(n, length, stride)
    ]
