"""Synthetic traffic of the hearing-loss detector (labelled as synthetic): the demo's windows of requests
from fresh synthetic cohorts (the family's ``monitor.traffic``), and windows of logged inferences in
the inference store's schema for the monitoring tests and benchmarks: ages, a score that depends on
hearing loss, and input summaries that carry a little age signal, without training a model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from models.contract import Request
from models.hearing_loss.data import load_split
from models.hearing_loss.dataset import FEATURE_DIM
from models.hearing_loss.requests import segment_requests
from models.hearing_loss.synth import PLATFORM_COHORT, SynthConfig

OUTPUTS = ("probability", "label", "threshold", "age_estimate")  # the window's model outputs


SHIFT = "mostly young"  # the shifted window: the age shift monitoring has to see
YOUNG_SHARE_SHIFTED = 0.85


def demo_cohort(subjects: int, seed: int, trained_on: SynthConfig | None = None) -> SynthConfig:
    """6-minute sessions instead of one hour: the same format and effects, minutes not hours; the
    platform cohort (``synth.PLATFORM_COHORT``), on which the model clears the gates at the demo's scale.
    With ``trained_on`` (the cohort a served model was trained on): new subjects of its population."""
    config = SynthConfig(subjects=subjects, session_seconds=(330.0, 390.0), seed=seed, **PLATFORM_COHORT)
    if trained_on is None:
        return config
    return replace(config, world=trained_on.world or (trained_on.seed, trained_on.subjects))


def window(
    data: Path, *, holdout: int | None = None, shifted: bool = False, prefix: str = "", seed: int = 0
) -> tuple[list[Request], pd.DataFrame]:
    """Requests for the segments of the split cohort ``data`` (of fold ``holdout`` only, unless None) and
    their subjects' labels. ``shifted``: every young subject and just enough whole other subjects that
    the young are ``YOUNG_SHARE_SHIFTED`` of the SUBJECTS (drift is judged per subject)."""
    frame = load_split(data)
    rows = frame if holdout is None else frame[frame["fold"] == holdout]
    if shifted:
        subjects = rows.groupby("subject_id")["age_group"].first()
        young = subjects.index[subjects == "young"]
        others = subjects.index[subjects != "young"].to_series().sample(frac=1.0, random_state=seed)
        keep = round(len(young) * (1 - YOUNG_SHARE_SHIFTED) / YOUNG_SHARE_SHIFTED)
        rows = rows[rows["subject_id"].isin([*young, *others.iloc[:keep]])]
    labels = rows.groupby("subject_id")["hearing_loss"].max().rename_axis("subject_pseudonym").reset_index()
    labels["subject_pseudonym"] = prefix + labels["subject_pseudonym"]
    return list(segment_requests(data, rows, pseudonym_prefix=prefix)), labels


def synthetic_window(
    rows: int,
    *,
    seed: int,
    subjects: int = 200,
    young_share: float | None = None,
    feature_shift: float = 0.0,
    female_share: float | None = None,
    young_logit_shift: float = 0.0,
    young_blind: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic window of logged inferences in the store's schema (for tests, benchmarks, demos),
    and its subjects' labels. Of the input summaries it has ``current_mean`` only, what reports read.

    Ages are uniform on 18-90 unless ``young_share`` of the subjects are drawn from 18-39; the
    features carry a little age signal (so an age shift moves them) plus ``feature_shift`` on
    every dimension. Half the subjects are female unless ``female_share`` says otherwise. The
    model's logit gains ``young_logit_shift`` for the young (18-39), and with ``young_blind`` it is
    noise alone for them (a model that cannot see their condition: a fairness gap in one group).
    Returns (inferences, labels[subject_pseudonym, hearing_loss]).
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
    noise = rng.normal(0, 1, rows)
    young_row = ages[subject] <= 39
    seen = ~young_row if young_blind else np.ones(rows, bool)
    logit = seen * (2 * hearing_loss[subject] - 1) * (1.5 + signal[subject]) + noise
    logit = logit + young_logit_shift * young_row
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
            "gender": rng.choice(["female", "male"], subjects, p=_shares(female_share))[subject],
            "noise_level": rng.choice(["low", "mid", "high"], rows),
            "current_frames": rng.integers(90, 150, rows),
            "current_mean": list(features),
            "anchor_frames": rng.integers(90, 150, rows),
        }
    )
    labels = pd.DataFrame({"subject_pseudonym": names, "hearing_loss": hearing_loss})
    return frame, labels


def _shares(female: float | None) -> list[float] | None:
    """Female and male shares for ``Generator.choice``; None: equal (the draws of no ``p``)."""
    return None if female is None else [female, 1.0 - female]


def synthetic_reference(rows: int, *, seed: int, subjects: int, answered: int) -> pd.DataFrame:
    """A synthetic monitoring reference as components/reference.py writes one: ``subjects`` subjects
    of ``synthetic_window``'s population, the first ``answered`` with the version's outputs (its
    held-out fold, ``scored`` true), the others with inputs and demographics only."""
    frame, _ = synthetic_window(rows, seed=seed, subjects=subjects)
    held_out = frame["subject_pseudonym"].isin(sorted(frame["subject_pseudonym"].unique())[:answered])
    frame = frame.assign(scored=held_out.to_numpy())
    frame.loc[~held_out, list(OUTPUTS)] = np.nan
    return frame
