"""Evaluation as the paper does it: F1 overall and per age group (§4.2), and the age probe (Fig. 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.metrics import f1_score

from models.common.fairness import fairness_report, flatten_fairness, overall_interval
from models.common.folds import evaluation_fold, select_folds
from models.hearing_loss.checkpoint import TrainedModel
from models.hearing_loss.data import SegmentReader, batches, load_split
from models.hearing_loss.dataset import AGE_GROUPS

PREDICTION_COLUMNS = [
    "subject_id",
    "session_id",
    "segment_id",
    "fold",
    "noise_level_dba",
    "age",
    "age_group",
    "gender",
    "hearing_loss",
]
EVAL_BATCH = 128


@torch.inference_mode()
def predict(trained: TrainedModel, data: Path, frame: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per segment of ``rows``: metadata, ``probability``, ``embedding`` and, with an
    age head, ``age_estimate`` in years. ``frame`` is the whole split (for anchors).
    """
    model, config = trained.model.eval(), trained.config
    device = next(model.parameters()).device
    reader = SegmentReader(data, frame)
    anchors = frame["anchor_index"].to_numpy()
    age_z = trained.age_scaler.transform(frame["age"].to_numpy())
    probabilities, age_hat, embeddings = [], [], []
    for chosen in batches(rows.index.to_numpy(), EVAL_BATCH):
        current, lengths = reader.pad(chosen)
        inputs: dict[str, torch.Tensor] = {}
        if config.uses_anchor:  # paper §3.2: inference sees the current and the anchor segment only
            anchor, anchor_lengths = reader.pad(anchors[chosen])
            inputs.update(anchor=anchor.to(device), anchor_lengths=anchor_lengths)
        if config.uses_age_input:  # the Marlin+Age ablation (§4.4) alone takes age
            inputs["age_z"] = torch.from_numpy(age_z[chosen]).to(device)
        out = model(current.to(device), lengths, **inputs)
        probabilities.append(torch.sigmoid(out["logit"]).cpu().numpy())
        embeddings.append(out["embedding"].cpu().numpy())
        if "age_z_hat" in out:
            age_hat.append(trained.age_scaler.inverse(out["age_z_hat"].cpu().numpy()))
    result = rows[PREDICTION_COLUMNS].copy()
    result["probability"] = np.concatenate(probabilities)
    result["prediction"] = (result["probability"] >= trained.threshold).astype(int)
    result["embedding"] = list(np.concatenate(embeddings))
    if age_hat:
        result["age_estimate"] = np.concatenate(age_hat)
    return result


def coin_flip_f1(positive_rate: float) -> float:
    """Expected F1 of guessing each label with probability 1/2 (Table 2's 'Random guessing' row).

    Precision is the positive rate p and recall 1/2, so F1 = 2p / (2p + 1).
    """
    return 2 * positive_rate / (2 * positive_rate + 1)


def metrics(predictions: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> dict:
    """F1 overall and per age group (paper §4.2), each with its coin-flip baseline; fairness across age
    groups and genders with subject-bootstrap intervals (the promotion gate's); age probe (Fig. 5).

    A group's F1 is None where it has no segments or no positives: nothing there could be detected.
    """
    out: dict[str, float | int | None] = {"segments": len(predictions)}
    truth, predicted = predictions["hearing_loss"], predictions["prediction"]
    out["f1"] = float(f1_score(truth, predicted, zero_division=0)) if len(predictions) else None
    if len(predictions):  # the paper's metric with the same subject-bootstrap interval as the groups'
        whole = overall_interval(
            truth, predicted, clusters=predictions["subject_id"], n_boot=n_boot, seed=seed
        )
        out["f1_low"], out["f1_high"] = whole["low"], whole["high"]
    out["random_f1"] = coin_flip_f1(float(truth.mean())) if len(predictions) else None
    out["segments_all"] = len(predictions)
    fairness = fairness_report(
        truth,
        predicted,
        {"age_group": predictions["age_group"], "gender": predictions["gender"]},
        clusters=predictions["subject_id"],
        n_boot=n_boot,
        seed=seed,
    )
    out.update(flatten_fairness(fairness, "age_group"))
    out.update({f"gender_{key}": value for key, value in flatten_fairness(fairness, "gender").items()})
    for name in AGE_GROUPS:
        part = predictions[predictions["age_group"] == name]
        out.setdefault(f"f1_{name}", None)  # a group absent from the fold
        if not part.empty:
            out[f"random_f1_{name}"] = coin_flip_f1(float(part["hearing_loss"].mean()))
            out[f"segments_{name}"] = len(part)
    out["accuracy"] = float((predicted == truth).mean())
    if "age_estimate" in predictions:
        out.update(age_probe(predictions))
    return out


def age_probe(predictions: pd.DataFrame) -> dict[str, float]:
    """Pearson r and p between the age estimator's output and true age (paper Fig. 5).

    Choice: one point per subject (the mean estimate over its segments), as Fig. 5 shows
    "age estimations ... for all subjects"; its r = 0.11, p = 0.16 fits n ~ 170 subjects.
    """
    per_subject = predictions.groupby("subject_id")[["age", "age_estimate"]].mean()
    if len(per_subject) < 3 or per_subject["age"].nunique() < 2 or per_subject["age_estimate"].nunique() < 2:
        return {"age_probe_subjects": len(per_subject)}
    r, p = stats.pearsonr(per_subject["age"], per_subject["age_estimate"])
    return {"age_probe_r": float(r), "age_probe_p": float(p), "age_probe_subjects": len(per_subject)}


def evaluate(trained: TrainedModel, data: Path, holdout: int | None = None) -> dict:
    """Metrics of ``trained`` on fold ``holdout`` of the split cohort ``data`` (default: the fold the
    model was trained without)."""
    fold = evaluation_fold(trained.holdout, holdout)
    frame = load_split(data)
    return metrics(predict(trained, data, frame, select_folds(frame, fold, train=False)))
