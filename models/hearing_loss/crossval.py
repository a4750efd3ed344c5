"""The paper's protocol (§4.2): subject-independent 5-fold cross-validation, repeated over seeds.

One model per (seed, held-out fold). Per seed, each segment is predicted once, by the model that did
not see its fold; F1 is computed over those pooled predictions (choice: the paper does not say pooled
or fold-averaged; pooling weighs every segment alike). The summary holds each metric per seed and
its mean and std over seeds (sample std, ddof=1, as 'mean ± std' over five runs).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.common.crossval import KFoldProtocol
from models.common.folds import select_folds
from models.hearing_loss import checkpoint
from models.hearing_loss.data import load_split
from models.hearing_loss.evaluate import metrics, predict
from models.hearing_loss.model import HearingLossConfig
from models.hearing_loss.train import train

PAPER_SEEDS = (0, 1, 2, 3, 4)  # paper §4.2: five random seeds


def predict_fold(path: Path, data: Path, frame: pd.DataFrame, fold: int) -> pd.DataFrame:
    trained = checkpoint.load(path, device="cpu")
    return predict(trained, data, frame, select_folds(frame, fold, train=False))


def describe(config: HearingLossConfig) -> dict:
    return {"variant": config.variant}


cross_validate = KFoldProtocol(
    train=train,
    load=load_split,
    predict_fold=predict_fold,
    score=metrics,
    describe=describe,
    seeds=PAPER_SEEDS,
)
