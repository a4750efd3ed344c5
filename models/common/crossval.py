"""Cross-validation repeated over seeds, for any family: one model per (seed, held-out fold), each
example predicted once per seed by the model that never saw its fold, metrics on the pooled predictions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.common.tracking import LocalTracker, Tracker

log = logging.getLogger(__name__)


def cross_validate(
    config: Any,
    data: Path,
    tracker: Tracker,
    *,
    out_dir: Path,
    seeds: Sequence[int],
    folds: Sequence[int],
    device: str,
    train: Callable[..., Path],
    predict_fold: Callable[[Path, int], pd.DataFrame],
    score: Callable[[pd.DataFrame], dict],
    summary: Mapping[str, Any],
) -> tuple[dict, pd.DataFrame]:
    """``train`` is the family's train; ``predict_fold(model path, fold)`` its held-out predictions;
    ``score(pooled predictions of one seed)`` its metrics. Returns (``summary`` plus each metric per
    seed and its mean and sample std over seeds (ddof=1), pooled predictions). Runs resume from their
    own checkpoints under ``out_dir/seed<s>/fold<k>``.
    """
    if not seeds:
        raise ValueError("cross-validation needs at least one seed")
    per_seed: list[dict] = []
    pooled: list[pd.DataFrame] = []
    for seed in seeds:
        parts = []
        for fold in folds:
            run_dir = Path(out_dir) / f"seed{seed}" / f"fold{fold}"
            log.info("%s: seed %d, held-out fold %d of %s", config.variant, seed, fold, list(folds))
            path = train(
                replace(config, seed=seed),
                data,
                LocalTracker(run_dir / "tracking"),
                out_dir=run_dir,
                holdout=fold,
                device=device,
            )
            parts.append(predict_fold(path, fold))
        predictions = pd.concat(parts, ignore_index=True).assign(seed=seed)
        scores = score(predictions)
        per_seed.append(scores)
        tracker.log_metrics(
            {key: value for key, value in scores.items() if isinstance(value, float)}, step=seed
        )
        pooled.append(predictions)
    result = {**summary, "seeds": list(seeds), "folds": list(folds), "per_seed": per_seed}
    for key in per_seed[0]:
        values = [scores.get(key) for scores in per_seed]
        if all(isinstance(value, float) for value in values):
            result[f"{key}_mean"] = float(np.mean(values))
            result[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    tracker.log_metrics({key: value for key, value in result.items() if key.endswith(("_mean", "_std"))})
    return result, pd.concat(pooled, ignore_index=True)
