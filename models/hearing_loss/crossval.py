"""The paper's protocol (§4.2): subject-independent 5-fold cross-validation, repeated over seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.common import crossval as common
from models.common.folds import select_folds
from models.common.tracking import Tracker
from models.hearing_loss import checkpoint
from models.hearing_loss.data import load_split
from models.hearing_loss.evaluate import metrics, predict
from models.hearing_loss.model import HearingLossConfig
from models.hearing_loss.train import train

PAPER_SEEDS = (0, 1, 2, 3, 4)  # paper §4.2: five random seeds


def cross_validate(
    config: HearingLossConfig,
    data: Path,
    tracker: Tracker,
    *,
    out_dir: Path,
    seeds: tuple[int, ...] = PAPER_SEEDS,
    device: str = "auto",
) -> tuple[dict, pd.DataFrame]:
    """Train one model per (seed, held-out fold); return (summary, pooled predictions).

    Per seed, each segment is predicted once, by the model that did not see its fold; F1 is
    computed over those pooled predictions (choice: the paper does not say pooled or fold-
    averaged; pooling weighs every segment alike). The summary holds each metric per seed and
    its mean and std over seeds (sample std, ddof=1, as 'mean ± std' over five runs).
    """
    frame = load_split(data)

    def predict_fold(path: Path, fold: int) -> pd.DataFrame:
        trained = checkpoint.load(path, device="cpu")
        return predict(trained, data, frame, select_folds(frame, fold, train=False))

    return common.cross_validate(
        config,
        data,
        tracker,
        out_dir=out_dir,
        seeds=seeds,
        folds=sorted(int(f) for f in frame["fold"].unique()),
        device=device,
        train=train,
        predict_fold=predict_fold,
        score=metrics,
        summary={"variant": config.variant},
    )
