"""The paper's Table 2 rows on the synthetic expression dataset: single models vs their voting ensemble.

The rows are the paper's Table 2 ("each single model and the ensemble of them ... on the validation
set": a temporal encoder and a visual + audio feature combination each, then the vote of §4.5), and
so is the ``paper F1`` column: one training on Aff-Wild2's training set, F1 on its validation set.
The protocol here differs: every row is cross-validated over 5 folds, the validation partition as
the 5th (§4.6's protocol; the paper's Table 3 reports it for one Transformer only and its numbers
are not in the text). So the comparison is a 5-fold CV F1 on synthetic data beside a validation-set
F1 on Aff-Wild2: the same rows, not the same measurement. Also records each row's training
throughput (frames per second).

Scales (the table states which one made it):

* ``full`` (GPU work, not run here): the paper's dataset scale (548 videos, ~2.6 M frames) and
  config (width 1024, 4 layers, 25 epochs, segments of 128).
* ``cpu``: 100 videos (20 per fold) of 200-320 frames with a weaker class signal, width 128,
  2 layers, 8 epochs, segments of 64: large enough that the ensemble-vs-best-row gap can be read
  against the fold-to-fold spread, small enough for ~20 min on one CPU thread (OMP_NUM_THREADS=1);
  not the paper's data scale or model size.
* ``quick`` (``--quick``): 20 videos of 200-300 frames, width 32, 1 layer, 6 epochs, segments of
  32: a smoke run of the protocol on 2 shared CPU cores, not a measurement of the method.

Usage: python -m benchmarks.expression_table2 [--scale quick|cpu|full] [--quick] [--device auto]
Reruns resume: finished rows are read back, interrupted runs continue from checkpoints.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.results import write_section
from components.split import split_cohort
from core.settings import load_settings
from models.common.tracking import NullTracker
from models.expression.crossval import cross_validate
from models.expression.ensemble import vote
from models.expression.evaluate import PROBABILITY_COLUMNS, metrics
from models.expression.features import is_visual
from models.expression.model import ExpressionConfig
from models.expression.synth import SynthConfig, synthesize

# paper Table 2: (encoder, features, validation-set F1); the last LSTM setting appears twice there
# (two trainings), here as seeds 0 and 1
ROWS = [
    ("transformer", ("ires100", "mae", "ecapatdnn", "hubert", "wav2vec"), 0, "0.38362"),
    ("transformer", ("fau", "ires100", "ecapatdnn", "hubert", "wav2vec"), 0, "0.35119"),
    ("transformer", ("densenet", "fau", "ires100", "ecapatdnn", "hubert"), 0, "0.36087"),
    ("transformer", ("densenet", "mae", "ires100", "ecapatdnn", "hubert"), 0, "0.39380"),
    ("lstm", ("densenet", "mae", "ires100", "ecapatdnn", "hubert", "wav2vec"), 0, "0.40178"),
    ("lstm", ("mae", "ires100", "ecapatdnn", "hubert", "wav2vec"), 0, "0.40832"),
    ("lstm", ("fau", "ires100", "ecapatdnn", "hubert"), 0, "0.38928"),
    ("lstm", ("densenet", "mae", "ires100", "ecapatdnn", "hubert"), 0, "0.40889"),
    ("lstm", ("densenet", "mae", "ires100", "ecapatdnn", "hubert"), 1, "0.41410"),
]
PAPER_ENSEMBLE = "0.45774"  # paper Table 2: the vote over the rows, validation set
PROTOCOL_NOTE = (
    "Rows and `paper F1`: the paper's Table 2 (single models and their vote, trained on Aff-Wild2's "
    "training set, F1 on its validation set); here each row is 5-fold cross-validated instead, so the "
    "paper column is a validation-set F1 beside a 5-fold CV F1 on synthetic data, not the same measurement."
)
USED = ("mae", "densenet", "ires100", "fau", "ecapatdnn", "hubert", "wav2vec")


@dataclass(frozen=True)
class Scale:
    data: SynthConfig
    model: dict = field(default_factory=dict)
    notes: str = ""  # what the scale is and is not, for the table's notes

    def data_overrides(self) -> dict:
        """The generator settings that differ from its defaults (the paper's scale)."""
        default = asdict(SynthConfig(features=USED))
        return {key: value for key, value in asdict(self.data).items() if value != default[key]}


SCALES = {
    "full": Scale(
        SynthConfig(features=USED), notes="Full scale: the paper's data scale and model config (GPU work)."
    ),
    "cpu": Scale(
        # choice: 5 folds of ~20 videos (~5k frames) each. The class signal is 0.35 x the default:
        # at the default one fold's F1 is ~0.99 at this size (nothing left for an ensemble to add);
        # at 0.35 a single model lands near the paper's ~0.4 (calibrated on one fold of one row)
        SynthConfig(
            videos=100,
            frames=(200, 320),
            episode_frames=60.0,
            visual_signal=0.9 * 0.35,
            audio_signal=0.5 * 0.35,
            features=USED,
        ),
        {
            "fusion_dim": 128,
            "layers": 2,
            "heads": 4,
            "feedforward_dim": 256,
            "segment_length": 64,
            "stride": 64,
            "classifier_hidden": (128, 64),
            "epochs": 8,  # a 4-epoch run scored every row 0.03-0.07 F1 lower; 8 may still be short
            "batch_size": 16,
            "lr": 1e-3,
        },
        " ".join(
            [
                "CPU scale (one CPU thread): ~26k frames against the paper's ~2.6 M, and a width-128,",
                "2-layer model trained 8 epochs against the paper's width 1024, 4 layers, 25 epochs; the",
                "class signal is weakened to 0.35 x the generator's default so single models land near the",
                "paper's F1 range instead of ~0.99. Its F1 values measure this synthetic task, not",
                "Aff-Wild2, and are not comparable with the paper's column; what it can show is whether",
                "voting over the rows beats the best row by more than the fold-to-fold noise. Not",
                "converged for sure: a 4-epoch run scored every row 0.03-0.07 lower (ensemble 0.464).",
            ]
        ),
    ),
    "quick": Scale(
        SynthConfig(videos=20, frames=(200, 300), episode_frames=30.0, features=USED),
        {
            "fusion_dim": 32,
            "layers": 1,
            "heads": 2,
            "feedforward_dim": 64,
            "segment_length": 32,
            "stride": 32,
            "classifier_hidden": (32, 16),
            "epochs": 6,
            "batch_size": 8,
            "lr": 2e-3,
        },
        "Quick scale: a smoke run of the protocol; its numbers are not comparable with the paper's.",
    ),
}


def prepare(root: Path, scale: Scale) -> Path:
    data = root / "data"
    if not (data / "folds.parquet").exists():
        synthesize(scale.data, data)
        split_cohort(data, 5, 0, family="expression")
    return data


def run_row(
    root: Path, data: Path, config: ExpressionConfig, device: str
) -> tuple[dict, pd.DataFrame, float]:
    """Cross-validate one row; its summary, pooled predictions and mean training frames/s."""
    name = f"{config.variant}-{'-'.join(config.features)}-seed{config.seed}"
    out = root / name
    summary_path, predictions_path = out / "summary.json", out / "predictions.parquet"
    if not summary_path.exists():
        summary, predictions = cross_validate(
            config, data, NullTracker(), out_dir=out / "runs", seeds=(config.seed,), device=device
        )
        predictions.to_parquet(predictions_path)
        summary_path.write_text(json.dumps(summary, indent=2))
    speeds = [
        record["frames_per_s"]
        for path in sorted((out / "runs").glob("seed*/fold*/tracking/metrics.jsonl"))
        for record in map(json.loads, path.read_text().splitlines())
        if "frames_per_s" in record
    ]
    summary = json.loads(summary_path.read_text())
    return summary, pd.read_parquet(predictions_path), float(np.mean(speeds))


def fold_f1(key: pd.DataFrame, prediction: np.ndarray) -> pd.Series:
    """Eq. 5's mean F1 of ``prediction`` per held-out fold of ``key`` (columns fold, label)."""
    labels = key["label"].to_numpy()
    return pd.Series(
        {
            fold: metrics(labels[rows], prediction[rows])["f1"]
            for fold, rows in key.groupby("fold").indices.items()
        }
    )


def reading(single: list[pd.Series], ensemble: pd.Series, pooled: list[float], pooled_ensemble: float) -> str:
    """The ensemble against the best single row (by pooled F1), fold by fold."""
    best = int(np.argmax(pooled))
    gain = ensemble - single[best]
    return (
        f"Ensemble vs the best single row (row {best + 1}, pooled F1 {pooled[best]:.4f}): "
        f"{pooled_ensemble - pooled[best]:+.4f} pooled; "
        f"per fold {gain.mean():+.4f} +- {gain.std(ddof=1):.4f} "
        f"(mean +- std of the paired differences), ahead on {int((gain > 0).sum())} of {len(gain)} folds, "
        f"against a fold-to-fold spread of that row's F1 of {single[best].std(ddof=1):.4f} (std over folds). "
        # the best row is chosen on the very scores it is compared with, which flatters it
        f"The best row is picked after seeing these scores; against the mean row (pooled F1 "
        f"{np.mean(pooled):.4f}) the ensemble is {pooled_ensemble - np.mean(pooled):+.4f}."
    )


def run_wall_minutes(root: Path) -> float:
    """Data synthesis to the last finished row, from file times (a rerun that reads rows back adds none)."""
    ends = [path.stat().st_mtime for path in root.glob("*/summary.json")]
    return (max(ends) - (root / "data" / "folds.parquet").stat().st_mtime) / 60


def _features(names: tuple[str, ...], visual: bool) -> str:
    return ", ".join(name for name in names if is_visual(name) == visual)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--quick", action="store_true", help="alias of --scale quick (minutes on a CPU)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    scale_name = "quick" if args.quick else args.scale
    scale = SCALES[scale_name]
    root = load_settings().home / "bench" / "expression_table2" / scale_name
    data = prepare(root, scale)
    rows, votes, probabilities, per_fold, pooled, key = [], [], [], [], [], None
    for variant, features, seed, paper in ROWS:
        config = replace(ExpressionConfig(variant=variant, features=features, seed=seed), **scale.model)
        summary, predictions, speed = run_row(root, data, config, args.device)
        predictions = predictions.sort_values(["video_id", "frame"], ignore_index=True)
        if key is None:
            key = predictions[["video_id", "fold", "frame", "label"]]
        votes.append(predictions["prediction"].to_numpy())
        probabilities.append(predictions[PROBABILITY_COLUMNS].to_numpy())
        per_fold.append(fold_f1(key, votes[-1]))
        pooled.append(summary["f1_mean"])
        rows.append(
            {
                "Model": "Transformer" if variant == "transformer" else "LSTM",
                "Visual Features": _features(features, True),
                "Audio Features": _features(features, False),
                "F1": f"{summary['f1_mean']:.4f}",
                "fold std": f"{per_fold[-1].std(ddof=1):.4f}",
                "paper F1": paper,
                "train frames/s": f"{speed:,.0f}",
            }
        )
    voted = vote(votes, probabilities)
    ensemble = metrics(key["label"].to_numpy(), voted)
    ensemble_folds = fold_f1(key, voted)
    rows.append(
        {
            "Model": "Ensemble (vote, §4.5)",
            "F1": f"{ensemble['f1']:.4f}",
            "fold std": f"{ensemble_folds.std(ddof=1):.4f}",
            "paper F1": PAPER_ENSEMBLE,
        }
    )
    rows.append({"Model": "Random guessing", "F1": f"{ensemble['random_f1']:.4f}", "paper F1": "-"})
    table = pd.DataFrame(rows).fillna("")
    command = f"python -m benchmarks.expression_table2 --scale {scale_name}"
    notes = " ".join(
        [
            f"`{command}` ({scale_name} scale, {run_wall_minutes(root):.1f} min wall;",
            "finished rows are read back on a rerun).",
            PROTOCOL_NOTE,
            f"Synthetic data (`models/expression/synth.py`): {scale.data.videos} videos of",
            f"{scale.data.frames[0]}-{scale.data.frames[1]} frames with features {', '.join(USED)}, split by",
            "subject into 5 folds, the validation partition as fold 5 (§4.6). Every frame is predicted once",
            "by the model that did not see its fold; F1 is Eq. 5's mean over 8 classes on the pooled valid",
            "frames; fold std is the sample std of the same F1 computed per held-out fold.",
            f"Data overrides: {scale.data_overrides() or 'none'}.",
            f"Model overrides: {scale.model or 'none (the paper config)'}.",
            "The ensemble votes per frame over the rows above, ties broken by mean probability (§4.5).",
            "Frames/s is training throughput (R-Drop: two passes per step), mean over epochs and folds.",
            scale.notes,
            reading(per_fold, ensemble_folds, pooled, ensemble["f1"]),
        ]
    )
    write_section(
        f"Expression recognition, paper Table 2's rows on synthetic data, 5-fold CV ({scale_name} scale)",
        table,
        notes,
    )
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
