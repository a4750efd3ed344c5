"""The paper's protocol (§4.6): 5-fold cross-validation, each frame predicted by a model without its fold."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.tracking import LocalTracker, Tracker
from models.expression import checkpoint
from models.expression.data import load_split, select_folds
from models.expression.evaluate import metrics, predict
from models.expression.model import ExpressionConfig
from models.expression.train import train

log = logging.getLogger(__name__)

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
    if not seeds:
        raise ValueError("cross-validation needs at least one seed")
    frame = load_split(data)
    folds = sorted(int(f) for f in frame["fold"].unique())
    per_seed: list[dict] = []
    pooled: list[pd.DataFrame] = []
    for seed in seeds:
        parts = []
        for fold in folds:
            run_dir = Path(out_dir) / f"seed{seed}" / f"fold{fold}"
            log.info("%s: seed %d, held-out fold %d of %s", config.variant, seed, fold, folds)
            path = train(
                replace(config, seed=seed),
                data,
                LocalTracker(run_dir / "tracking"),
                out_dir=run_dir,
                holdout_fold=fold,
                device=device,
            )
            parts.append(predict(checkpoint.load(path), data, select_folds(frame, fold, train=False)))
        predictions = pd.concat(parts, ignore_index=True).assign(seed=seed)
        scores = metrics(predictions["label"].to_numpy(), predictions["prediction"].to_numpy())
        for fold, part in predictions.groupby("fold"):
            scores[f"f1_fold{fold}"] = metrics(part["label"].to_numpy(), part["prediction"].to_numpy())["f1"]
        per_seed.append(scores)
        tracker.log_metrics({k: v for k, v in scores.items() if isinstance(v, float)}, step=seed)
        pooled.append(predictions)
    summary: dict = {"variant": config.variant, "features": list(config.features), "seeds": list(seeds)}
    summary["folds"] = folds
    summary["per_seed"] = per_seed
    for key in per_seed[0]:
        values = [scores[key] for scores in per_seed]
        if all(isinstance(value, float) for value in values):
            summary[f"{key}_mean"] = float(np.mean(values))
            summary[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    tracker.log_metrics({key: value for key, value in summary.items() if key.endswith(("_mean", "_std"))})
    return summary, pd.concat(pooled, ignore_index=True)
