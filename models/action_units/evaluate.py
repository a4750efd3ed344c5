"""Evaluation as the paper (§3.1): F1 per AU over the coded frames (uncoded masked), and its mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.action_units.aus import au_columns
from models.action_units.checkpoint import TrainedModel
from models.action_units.data import load_split, read_images
from models.action_units.dataset import frame_landmarks, read_meta
from models.action_units.predict import probabilities
from models.common.folds import evaluation_fold, select_folds

CHUNK = 256  # frames read at once


def predict(trained: TrainedModel, data: Path, frames: pd.DataFrame) -> pd.DataFrame:
    """One row per frame: ids, fold, labels ``au<N>`` (1 / 0 / -1 uncoded), ``p_au<N>``, ``pred_au<N>``."""
    aus, size = trained.config.aus, int(read_meta(data)["image_size"])
    parts = []
    for first in range(0, len(frames), CHUNK):
        chunk = frames.iloc[first : first + CHUNK]
        p = probabilities(
            trained, read_images(data, list(chunk["image"]), size), frame_landmarks(data, chunk)
        )
        part = chunk[["subject_id", "sequence_id", "frame", "fold", *au_columns(aus)]].reset_index(drop=True)
        for k, au in enumerate(aus):
            part[f"p_au{au}"] = p[:, k]
            part[f"pred_au{au}"] = (p[:, k] >= trained.config.threshold).astype(np.int8)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def f1(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Binary F1 over coded frames (label >= 0); 0 when there is neither a positive nor a prediction."""
    coded = labels >= 0
    y, p = labels[coded] == 1, predictions[coded] == 1
    tp, fp, fn = int((y & p).sum()), int((~y & p).sum()), int((y & ~p).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def metrics(predictions: pd.DataFrame, aus: tuple[int, ...]) -> dict:
    """``f1``: the mean over AUs (paper Tables 1-2's Avg.); ``f1_au<N>`` each AU's; frames evaluated."""
    per_au = {
        f"f1_au{au}": f1(predictions[f"au{au}"].to_numpy(), predictions[f"pred_au{au}"].to_numpy())
        for au in aus
    }
    base = {
        f"positive_rate_au{au}": float(
            (predictions[f"au{au}"] == 1).sum() / max((predictions[f"au{au}"] >= 0).sum(), 1)
        )
        for au in aus
    }
    # a coin flip at each AU's base rate p scores 2p / (p + 1) per AU: the floor a model must beat
    chance = float(np.mean([2 * p / (p + 1) for p in base.values()]))
    return {
        "f1": float(np.mean(list(per_au.values()))),
        **per_au,
        "random_f1": chance,
        "frames": len(predictions),
    }


def evaluate(trained: TrainedModel, data: Path, holdout: int | None = None) -> dict:
    """Metrics of ``trained`` on fold ``holdout`` of ``data`` (default: the fold it was trained without)."""
    frames = select_folds(load_split(data), evaluation_fold(trained.holdout, holdout), train=False)
    scores = metrics(predict(trained, data, frames), trained.config.aus)
    return {**scores, "subjects": int(frames["subject_id"].nunique())}
