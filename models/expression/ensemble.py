"""The voting ensemble over models and feature sets (paper §4.5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.expression.features import N_CLASSES


def vote(predictions: Sequence[np.ndarray], probabilities: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Per frame, the class most models predict (paper §4.5: "a vote strategy").

    ``predictions``: one int array [n] per model. A tie goes to the tied class with the highest
    summed probability when ``probabilities`` ([n, 8] per model) are given, else to the lowest class
    index (choice: the paper does not say how ties break).
    """
    if not predictions:
        raise ValueError("an ensemble needs at least one model's predictions")
    stacked = np.stack([np.asarray(p, dtype=np.int64) for p in predictions])
    if stacked.min() < 0 or stacked.max() >= N_CLASSES:
        raise ValueError(f"predictions must be class indices 0..{N_CLASSES - 1}")
    votes = np.zeros((stacked.shape[1], N_CLASSES), dtype=np.float64)
    for row in stacked:
        votes[np.arange(len(row)), row] += 1.0
    if probabilities is not None:
        if len(probabilities) != len(predictions):
            raise ValueError(f"{len(probabilities)} probability arrays for {len(predictions)} models")
        # below one vote in total, so it only breaks ties
        votes += 0.5 * np.mean(np.stack(probabilities), axis=0)
    return votes.argmax(axis=1)
