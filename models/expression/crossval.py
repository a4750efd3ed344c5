"""The paper's protocol (§4.6): 5-fold cross-validation, each frame predicted by a model without its fold.

Per seed, mean F1 (Eq. 5) is computed over the pooled predictions of all folds (choice: the paper
does not say pooled or fold-averaged) and per fold. The summary holds each metric per seed and its
mean and std over seeds (ddof=1). Runs resume from ``out_dir/seed<s>/fold<k>``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.common.crossval import KFoldProtocol
from models.common.folds import select_folds
from models.expression import checkpoint
from models.expression.data import load_split
from models.expression.evaluate import metrics, predict
from models.expression.model import ExpressionConfig
from models.expression.train import train

PAPER_SEEDS = (0,)  # the paper reports one run per setting (Table 2)


def predict_fold(path: Path, data: Path, frame: pd.DataFrame, fold: int) -> pd.DataFrame:
    return predict(checkpoint.load(path), data, select_folds(frame, fold, train=False))


def score(predictions: pd.DataFrame) -> dict:
    scores = metrics(predictions["label"].to_numpy(), predictions["prediction"].to_numpy())
    for fold, part in predictions.groupby("fold"):
        scores[f"f1_fold{fold}"] = metrics(part["label"].to_numpy(), part["prediction"].to_numpy())["f1"]
    return scores


def describe(config: ExpressionConfig) -> dict:
    return {"variant": config.variant, "features": list(config.features)}


cross_validate = KFoldProtocol(
    train=train, load=load_split, predict_fold=predict_fold, score=score, describe=describe, seeds=PAPER_SEEDS
)
