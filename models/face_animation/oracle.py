"""Model-free checks that a dataset's landmark motion is predictable from its audio (run on the
synthetic data before any model trained on it, and usable on any dataset in the layout).

- lip motion: ridge regression from each frame's F_a window (its mean spectrum, 80 values, and
  its level per mel frame, 18 values) to
  the aligned inner-lip distance, fitted on the training partition, R² on the test partition's
  speakers (no speaker is in both);
- emotion: a nearest-centroid classifier of utterance-level audio statistics (mean and std of F_a)
  to the emotion label, fitted on dev, accuracy on test beside chance.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from models.face_animation.data import load_split, load_utterances, mean_face, select
from models.face_animation.dataset import TEST_PARTITION
from models.face_animation.landmarks import lip_distance

RIDGE = 1.0


def _ridge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    weights = np.linalg.solve(z.T @ z + RIDGE * np.eye(z.shape[1]), z.T @ y)
    return weights, mu, sd


def oracle(root: Path) -> dict[str, float]:
    """Lip distance (R², within-utterance r) and emotion (accuracy) from audio on the test partition."""
    table = load_split(root)
    train, test = select(table, TEST_PARTITION, True), select(table, TEST_PARTITION, False)
    face = mean_face(root, train)
    dev, held = load_utterances(root, train, face), load_utterances(root, test, face)

    def frames(utterances):
        x = np.concatenate([u.windows.mean(axis=2) for u in utterances])
        y = np.concatenate([lip_distance(u.aligned) for u in utterances])
        return x, y

    (x_dev, y_dev), (x_test, y_test) = frames(dev), frames(held)
    weights, mu, sd = _ridge(x_dev, y_dev)
    predicted = np.hstack([(x_test - mu) / sd, np.ones((len(x_test), 1))]) @ weights
    r2 = 1 - np.sum((y_test - predicted) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    bounds = np.cumsum([0] + [len(u.aligned) for u in held])
    within = [np.corrcoef(predicted[a:b], y_test[a:b])[0, 1] for a, b in itertools.pairwise(bounds)]

    def stats(utterances):
        spectra = [u.windows.mean(axis=1) for u in utterances]
        return np.stack([np.concatenate([s.mean(axis=0), s.std(axis=0)]) for s in spectra])

    s_dev, s_test = stats(dev), stats(held)
    mu_s, sd_s = s_dev.mean(axis=0), s_dev.std(axis=0) + 1e-6
    labels = sorted({u.emotion for u in dev})
    centroids = np.stack(
        [((s_dev - mu_s) / sd_s)[[u.emotion == e for u in dev]].mean(axis=0) for e in labels]
    )
    nearest = np.linalg.norm(((s_test - mu_s) / sd_s)[:, None] - centroids[None], axis=2).argmin(axis=1)
    accuracy = float(np.mean([labels[i] == u.emotion for i, u in zip(nearest, held, strict=True)]))
    return {
        "lip_r2": float(r2),
        "lip_r_within": float(np.nanmean(within)),
        "emotion_accuracy": accuracy,
        "emotion_chance": 1.0 / len(labels),
        "test_frames": len(y_test),
        "test_utterances": len(held),
    }
