"""The paper's protocol (§4.6): 5-fold cross-validation, each frame predicted by a model without its fold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.common import crossval as common
from models.common.folds import select_folds
from models.common.tracking import Tracker
from models.expression import checkpoint
from models.expression.data import load_split
from models.expression.evaluate import metrics, predict
from models.expression.model import ExpressionConfig
from models.expression.train import train

PAPER_SEEDS = (0,)  # the paper reports one run per setting (Table 3)


def cross_validate(
    config: ExpressionConfig,
    data: Path,
    tracker: Tracker,
    *,
    out_dir: Path,
    seeds: tuple[int, ...] = PAPER_SEEDS,
    device: str = "auto",
) -> tuple[dict, pd.DataFrame]:
    """Train one model per (seed, held-out fold); return (summary, pooled per-frame predictions).

    Per seed, mean F1 (Eq. 5) is computed over the pooled predictions of all folds (choice: the
    paper does not say pooled or fold-averaged) and per fold. The summary holds each metric per
    seed and its mean and std over seeds (ddof=1). Runs resume from ``out_dir/seed<s>/fold<k>``.
    """
    frame = load_split(data)

    def predict_fold(path: Path, fold: int) -> pd.DataFrame:
        return predict(checkpoint.load(path), data, select_folds(frame, fold, train=False))

    def score(predictions: pd.DataFrame) -> dict:
        scores = metrics(predictions["label"].to_numpy(), predictions["prediction"].to_numpy())
        for fold, part in predictions.groupby("fold"):
            scores[f"f1_fold{fold}"] = metrics(part["label"].to_numpy(), part["prediction"].to_numpy())["f1"]
        return scores

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
        score=score,
        summary={"variant": config.variant, "features": list(config.features)},
    )
