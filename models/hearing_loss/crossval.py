"""The paper's protocol (§4.2): subject-independent 5-fold cross-validation, repeated over seeds."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.tracking import LocalTracker, Tracker
from models.hearing_loss import checkpoint
from models.hearing_loss.data import load_split, select_folds
from models.hearing_loss.evaluate import metrics, predict
from models.hearing_loss.model import HearingLossConfig
from models.hearing_loss.train import train

log = logging.getLogger(__name__)

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
    its mean and std over seeds (sample std, ddof=1, as 'mean ± std' over five runs). Runs
    resume from their own checkpoints under ``out_dir/seed<s>/fold<k>``.
    """
    if not seeds:
        raise ValueError("cross-validation needs at least one seed")
    frame = load_split(data)
    folds = sorted(frame["fold"].unique())
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
                holdout_fold=int(fold),
                device=device,
            )
            trained = checkpoint.load(path, device="cpu")
            parts.append(predict(trained, data, frame, select_folds(frame, int(fold), train=False)))
        predictions = pd.concat(parts).assign(seed=seed)
        scores = metrics(predictions)
        per_seed.append(scores)
        tracker.log_metrics(
            {key: value for key, value in scores.items() if isinstance(value, float)}, step=seed
        )
        pooled.append(predictions)
    summary = {"variant": config.variant, "seeds": list(seeds), "folds": [int(f) for f in folds]}
    summary["per_seed"] = per_seed
    for key in per_seed[0]:
        values = [scores.get(key) for scores in per_seed]
        if all(isinstance(value, float) for value in values):
            summary[f"{key}_mean"] = float(np.mean(values))
            summary[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    tracker.log_metrics({key: value for key, value in summary.items() if key.endswith(("_mean", "_std"))})
    return summary, pd.concat(pooled)
