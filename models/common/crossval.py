"""Cross-validation repeated over seeds, for any family: one model per (seed, held-out fold), each
example predicted once per seed by the model that never saw its fold, metrics on the pooled predictions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class KFoldProtocol:
    """A k-fold family's evaluation protocol, callable as the spec's ``evaluate.protocol``:
    ``(config, data, tracker, *, out_dir, seeds=the paper's, device) -> (summary, pooled predictions)``."""

    train: Callable[..., Path]  # the family's train
    load: Callable[[Path], pd.DataFrame]  # split dataset -> its table with a ``fold`` column
    # (model artifact, dataset, its table, fold) -> the fold's predictions by that model
    predict_fold: Callable[[Path, Path, pd.DataFrame, int], pd.DataFrame]
    score: Callable[[pd.DataFrame], dict]  # pooled predictions of one seed -> metrics
    describe: Callable[[Any], dict]  # config -> the summary's leading fields
    seeds: tuple[int, ...]  # the paper's

    def __call__(
        self,
        config: Any,
        data: Path,
        tracker: Tracker,
        *,
        out_dir: Path,
        seeds: Sequence[int] | None = None,
        device: str = "auto",
    ) -> tuple[dict, pd.DataFrame]:
        frame = self.load(data)
        return cross_validate(
            config,
            data,
            tracker,
            out_dir=out_dir,
            seeds=self.seeds if seeds is None else seeds,
            folds=sorted(int(f) for f in frame["fold"].unique()),
            device=device,
            train=self.train,
            predict_fold=lambda path, fold: self.predict_fold(path, data, frame, fold),
            score=self.score,
            summary=self.describe(config),
        )
