"""AU attention maps from 68 landmarks (paper §2.2): ellipses at the EAC-Net centres, smoothed with a
Gaussian of sigma 3, one K-channel map on the backbone's stride-16 grid (14 x 14 at 224 px).

Choices (NOTES-wave2 §1.2; the paper gives no ellipse axes): one ellipse per centre with axes
(r/2, r/3), r the inner-eye-corner distance, the two centres of an AU max-merged; rendered at the
image size, blurred (sigma 3 px at 224 px, scaled with the image), area-downsampled to the grid and
normalised to a maximum of 1 (a region wholly outside the image gives a zero map).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from models.action_units.aus import centres

GRID_STRIDE = 16  # Swin's stage-3 stride: 224 / 16 = 14 (paper §2.2)
PAPER_SIGMA = 3.0  # paper §2.2, at 224 px
PAPER_SIZE = 224


def attention_maps(landmarks: np.ndarray, aus: tuple[int, ...], size: int) -> np.ndarray:
    """``landmarks`` [68, 2] in pixels of a ``size`` x ``size`` image -> float32 [K, size/16, size/16]."""
    if size % GRID_STRIDE:
        raise ValueError(f"image size {size} must be a multiple of {GRID_STRIDE}")
    points = np.asarray(landmarks, dtype=np.float64)
    r = max(abs(points[39, 0] - points[42, 0]), 1.0)
    axes = np.array([r / 2, r / 3])  # choice: ellipse half-axes (x, y)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    grid = size // GRID_STRIDE
    sigma = PAPER_SIGMA * size / PAPER_SIZE
    out = np.zeros((len(aus), grid, grid), dtype=np.float32)
    for k, pair in enumerate(centres(points, aus)):
        inside = np.zeros((size, size), dtype=bool)
        for cx, cy in pair:
            inside |= ((x - cx) / axes[0]) ** 2 + ((y - cy) / axes[1]) ** 2 <= 1.0
        smooth = gaussian_filter(inside.astype(np.float64), sigma)
        pooled = smooth.reshape(grid, GRID_STRIDE, grid, GRID_STRIDE).mean(axis=(1, 3))
        peak = pooled.max()
        if peak > 0:
            out[k] = pooled / peak
    return out
