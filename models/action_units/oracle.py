"""A model-free check of the synthetic data: each AU is readable from its own region and texture.

Per image and AU: the magnitude of a quadrature Gabor filter of the AU's texture (``render.texture_of``)
at the AU's two centres, computed from the stored (noisy) landmarks, never from labels. Its ROC AUC
against the labels says whether local appearance carries the AU; the same filter at another AU's
centres says whether it is local. Also the relation matrix's distance from independence.
"""

from __future__ import annotations

import numpy as np

from models.action_units.aus import centres
from models.action_units.render import texture_of


def gabor_response(image: np.ndarray, landmarks: np.ndarray, au: int, region_au: int | None = None) -> float:
    """Mean Gabor magnitude of ``au``'s texture over the centres of ``region_au`` (default ``au``)."""
    gray = image.astype(np.float64).mean(axis=2)
    r = abs(landmarks[39, 0] - landmarks[42, 0])
    theta, period = texture_of(au)
    half = int(np.ceil(r / 2))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    envelope = np.exp(-(dx**2 + dy**2) / (2 * (r / 4) ** 2))
    phase = 2 * np.pi * (dx * np.cos(theta) + dy * np.sin(theta)) / (period * r)
    total = 0.0
    for cx, cy in centres(landmarks, (region_au or au,))[0]:
        x, y = round(cx - 0.5), round(cy - 0.5)
        patch = np.zeros_like(envelope)
        y0, y1, x0, x1 = (
            max(0, y - half),
            min(gray.shape[0], y + half + 1),
            max(0, x - half),
            min(gray.shape[1], x + half + 1),
        )
        if y1 > y0 and x1 > x0:
            patch[y0 - (y - half) : y1 - (y - half), x0 - (x - half) : x1 - (x - half)] = gray[y0:y1, x0:x1]
        patch -= (patch * envelope).sum() / envelope.sum()
        total += np.hypot((patch * envelope * np.cos(phase)).sum(), (patch * envelope * np.sin(phase)).sum())
    return total / 2


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged); labels 0 / 1."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    pos = label == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def relation_gap(labels: np.ndarray) -> float:
    """Largest |P(AU_j | AU_i) - P(AU_j)| over AU pairs (0 under independence); labels [n, K] 0/1."""
    from models.action_units.relation import relation_matrix

    m = relation_matrix(labels)
    base = np.nanmean(np.where(labels >= 0, labels, np.nan), axis=0)
    gap = np.abs(m - base[None, :])
    np.fill_diagonal(gap, 0.0)
    return float(np.nanmax(gap))
