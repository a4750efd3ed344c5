"""The paper's protocol (§4.3): train on VoxCeleb2's dev speakers, report LMD and ES on its test
speakers; here once per seed, with each metric's mean and std (ddof 1) over seeds. Runs resume
from ``out_dir/seed<s>``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.common.tracking import Tracker
from models.face_animation import checkpoint
from models.face_animation.dataset import TEST_PARTITION
from models.face_animation.evaluate import score_partition, summarize_scores
from models.face_animation.model import FaceAnimationConfig
from models.face_animation.train import train

PAPER_SEEDS = (0,)  # Table 2 gives one number per row
METRICS = ("lmd", "lmd_mouth", "es")


def fixed_partition_protocol(
    config: FaceAnimationConfig,
    data: Path,
    tracker: Tracker,
    *,
    out_dir: Path,
    seeds: tuple[int, ...] = PAPER_SEEDS,
    device: str = "auto",
) -> tuple[dict, pd.DataFrame]:
    """(summary, per-utterance scores of every seed)."""
    from dataclasses import replace

    per_seed, rows = {}, []
    for seed in seeds:
        path = train(
            replace(config, seed=seed),
            data,
            tracker,
            out_dir=Path(out_dir) / f"seed{seed}",
            holdout=TEST_PARTITION,
            device=device,
        )
        scores = score_partition(checkpoint.load(path), data, TEST_PARTITION).assign(seed=seed)
        per_seed[seed] = summarize_scores(scores)
        rows.append(scores)
    summary: dict = {"variant": config.variant, "seeds": list(seeds), "partition": TEST_PARTITION}
    for metric in METRICS:
        values = np.array([per_seed[s][metric] for s in seeds])
        summary[metric] = float(values.mean())
        summary[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
        summary[f"{metric}_per_seed"] = values.tolist()
    summary["es_classifier"] = per_seed[seeds[0]]["es_classifier"]
    return summary, pd.concat(rows, ignore_index=True)
