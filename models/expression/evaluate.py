"""Evaluation as the paper does it: mean F1 over the 8 classes on valid frames (Eq. 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from models.common.folds import evaluation_fold, select_folds
from models.expression.checkpoint import TrainedModel
from models.expression.data import load_split
from models.expression.dataset import VideoStore
from models.expression.features import CLASSES, N_CLASSES
from models.expression.predict import frame_logits, softmax

PROBABILITY_COLUMNS = [f"p_{name}" for name in CLASSES]


def predict(trained: TrainedModel, data: Path, videos: pd.DataFrame) -> pd.DataFrame:
    """One row per frame of ``videos``: ids, ``frame``, ``label`` (-1 invalid), ``prediction`` and
    the class probabilities ``p_<class>``."""
    store = VideoStore(data, trained.config.features)
    parts = []
    for row in videos.itertuples(index=False):
        n = int(row.n_frames)
        probabilities = softmax(frame_logits(trained.model, store.window(row.video_id, 0, n)))
        part = pd.DataFrame(probabilities, columns=PROBABILITY_COLUMNS)
        part.insert(0, "video_id", row.video_id)
        part.insert(1, "subject_id", row.subject_id)
        part.insert(2, "fold", row.fold)
        part.insert(3, "frame", np.arange(n))
        part.insert(4, "label", store.labels(row.video_id)[:n])
        part.insert(5, "prediction", probabilities.argmax(axis=1))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def chance_f1(labels: np.ndarray) -> float:
    """Expected mean F1 of guessing uniformly among 8 classes: per class 2 q / (8 q + 1), q its share."""
    share = np.bincount(labels, minlength=N_CLASSES) / len(labels)
    return float(np.mean(2 * share / (N_CLASSES * share + 1)))


def metrics(labels: np.ndarray, predictions: np.ndarray) -> dict:
    """Paper Eq. 5: the mean of the 8 per-class F1 scores over frames with a valid label; each class's F1."""
    valid = labels >= 0
    labels, predictions = labels[valid], predictions[valid]
    if not len(labels):
        raise ValueError("no frames with a valid label (all -1) to evaluate on")
    per_class = f1_score(labels, predictions, labels=list(range(N_CLASSES)), average=None, zero_division=0)
    out: dict[str, float | int] = {"f1": float(np.mean(per_class))}
    out.update({f"f1_{name}": float(score) for name, score in zip(CLASSES, per_class, strict=True)})
    out["accuracy"] = float((labels == predictions).mean())
    out["random_f1"] = chance_f1(labels)
    out["frames"] = len(labels)
    return out


def evaluate(trained: TrainedModel, data: Path, holdout: int | None = None) -> dict:
    """Metrics of ``trained`` on fold ``holdout`` of the split dataset ``data`` (default: the fold the
    model was trained without)."""
    videos = select_folds(load_split(data), evaluation_fold(trained.holdout, holdout), train=False)
    predictions = predict(trained, data, videos)
    scores = metrics(predictions["label"].to_numpy(), predictions["prediction"].to_numpy())
    return {**scores, "videos": len(videos)}
