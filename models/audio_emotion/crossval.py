"""The paper's protocol (§3): train with S1 labelled and S2 + S3 unlabelled, test on S4, per seed.

The summary holds each scalar metric per seed and its mean and std over seeds (ddof=1); the
predictions are S4's, one row per clip and seed. Runs resume from ``out_dir/seed<s>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from models.audio_emotion import checkpoint
from models.audio_emotion.data import load
from models.audio_emotion.dataset import TEST
from models.audio_emotion.evaluate import evaluate, predict
from models.audio_emotion.model import AudioEmotionConfig
from models.audio_emotion.train import train
from models.common.tracking import LocalTracker, Tracker

PAPER_SEEDS = (0,)  # Table 1 reports one run per row


def protocol(
    config: AudioEmotionConfig,
    data: Path,
    tracker: Tracker,
    *,
    out_dir: Path,
    seeds: Sequence[int] | None = None,
    device: str = "auto",
) -> tuple[dict, pd.DataFrame]:
    seeds = PAPER_SEEDS if seeds is None else tuple(seeds)
    if not seeds:
        raise ValueError("the protocol needs at least one seed")
    table = load(data)
    test = table[table["partition"] == TEST]
    per_seed, predictions = [], []
    for seed in seeds:
        run = Path(out_dir) / f"seed{seed}"
        path = train(
            replace(config, seed=seed),
            data,
            LocalTracker(run / "tracking"),
            out_dir=run,
            holdout=TEST,
            device=device,
        )
        trained = checkpoint.load(path)
        scores = evaluate(trained, data, TEST)
        per_seed.append(scores)
        tracker.log_metrics({k: v for k, v in scores.items() if isinstance(v, float)}, step=seed)
        predictions.append(predict(trained, data, test).assign(seed=seed))
    summary: dict = {
        "variant": config.variant,
        "setting": config.setting,
        "seeds": list(seeds),
        "per_seed": per_seed,
    }
    for key, value in per_seed[0].items():
        values = [scores.get(key) for scores in per_seed]
        if isinstance(value, float) and all(isinstance(v, float) for v in values):
            summary[f"{key}_mean"] = float(np.mean(values))
            summary[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return summary, pd.concat(predictions, ignore_index=True)
