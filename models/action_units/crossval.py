"""The paper's protocol (§3.1, NOTES §1.6): train on two of the 3 fixed subject folds, test on the third;
F1 per AU and the mean over AUs per fold, then averaged over the 3 folds (the headline ``f1``).

The pooled predictions' mean F1 is kept beside it (``f1_pooled``). Runs resume from
``out_dir/seed<s>/fold<k>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.action_units import checkpoint
from models.action_units.data import load_split
from models.action_units.evaluate import metrics, predict
from models.action_units.model import AUConfig
from models.action_units.train import train
from models.common.crossval import KFoldProtocol
from models.common.folds import select_folds

PAPER_SEEDS = (0,)  # the paper reports one run per setting


def predict_fold(path: Path, data: Path, frame: pd.DataFrame, fold: int) -> pd.DataFrame:
    return predict(checkpoint.load(path), data, select_folds(frame, fold, train=False))


def score(predictions: pd.DataFrame) -> dict:
    aus = tuple(int(c[4:]) for c in predictions if c.startswith("p_au"))
    per_fold = {int(fold): metrics(part, aus) for fold, part in predictions.groupby("fold")}
    out: dict = {"f1": float(np.mean([m["f1"] for m in per_fold.values()]))}  # paper: averaged over folds
    for au in aus:
        out[f"f1_au{au}"] = float(np.mean([m[f"f1_au{au}"] for m in per_fold.values()]))
    out.update({f"f1_fold{fold}": m["f1"] for fold, m in per_fold.items()})
    out["f1_pooled"] = metrics(predictions, aus)["f1"]
    out["random_f1"] = float(np.mean([m["random_f1"] for m in per_fold.values()]))
    return out


def describe(config: AUConfig) -> dict:
    return {"variant": config.variant, "layout": config.layout, "image_size": config.image_size}


cross_validate = KFoldProtocol(
    train=train, load=load_split, predict_fold=predict_fold, score=score, describe=describe, seeds=PAPER_SEEDS
)
