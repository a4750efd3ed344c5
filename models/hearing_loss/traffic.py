"""Synthetic windows of logged hearing-loss inferences in the inference store's schema (labelled as
synthetic), for the monitoring tests and benchmarks: ages, a score that depends on hearing loss, and
input summaries that carry a little age signal, without training a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.hearing_loss.dataset import FEATURE_DIM


def synthetic_window(
    rows: int,
    *,
    seed: int,
    subjects: int = 200,
    young_share: float | None = None,
    feature_shift: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic window of logged inferences in the store's schema (for tests, benchmarks, demos),
    and its subjects' labels. Of the input summaries it has ``current_mean`` only, what reports read.

    Ages are uniform on 18-90 unless ``young_share`` of the subjects are drawn from 18-39; the
    features carry a little age signal (so an age shift moves them) plus ``feature_shift`` on
    every dimension. Returns (inferences, labels[subject_pseudonym, hearing_loss]).
    """
    rng = np.random.default_rng(seed)
    ages = rng.integers(18, 91, subjects)
    if young_share is not None:
        young = rng.random(subjects) < young_share
        ages = np.where(young, rng.integers(18, 40, subjects), rng.integers(40, 91, subjects))
    hearing_loss = (rng.random(subjects) < 0.2 + 0.5 * (ages >= 57)).astype(int)
    names = np.array([f"s{seed}-{k:05d}" for k in range(subjects)])
    subject = rng.integers(0, subjects, rows)
    signal = rng.normal(0, 1, subjects)  # how legible each subject's condition is to the model
    logit = (2 * hearing_loss[subject] - 1) * (1.5 + signal[subject]) + rng.normal(0, 1, rows)
    probability = 1 / (1 + np.exp(-logit))
    features = rng.standard_normal((rows, FEATURE_DIM), dtype=np.float32)
    features[:, :16] += ((ages[subject] - 54) / 36).astype(np.float32)[:, None]
    features += np.float32(feature_shift)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "inference_id": [f"{seed}-{k}" for k in range(rows)],
            "timestamp": start + pd.to_timedelta(np.sort(rng.integers(0, 7 * 86400, rows)), unit="s"),
            "model_name": "hearing_loss",
            "model_version": "1",
            "status": "ok",
            "probability": probability.astype(np.float32),
            "label": (probability >= 0.5).astype(int),
            "threshold": np.float32(0.5),
            "age_estimate": (54 + 0.1 * (ages[subject] - 54) + rng.normal(0, 8, subjects)[subject]).astype(
                np.float32
            ),
            "request_id": [f"r{seed}-{k}" for k in range(rows)],
            "subject_pseudonym": names[subject],
            "age": ages[subject],
            "gender": rng.choice(["female", "male"], subjects)[subject],
            "noise_level": rng.choice(["low", "mid", "high"], rows),
            "current_frames": rng.integers(90, 150, rows),
            "current_mean": list(features),
            "anchor_frames": rng.integers(90, 150, rows),
        }
    )
    labels = pd.DataFrame({"subject_pseudonym": names, "hearing_loss": hearing_loss})
    return frame, labels
