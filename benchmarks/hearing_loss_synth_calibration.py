"""How hard is the synthetic hearing-loss cohort? A linear probe, as the generator's calibration.

The real baseline (Marlin features -> GRU -> classifier) comes with the model; until then the
calibration target ("plain baseline near the paper's 5-fold F1 of 60-70, not near 100") is
checked with a linear probe on per-segment mean and std pooled features (what a GRU with average
pooling can at least represent), subject-independent 5-fold CV, segment-level F1 as in §4.2:

* single  - the target segment only (paper: Marlin)
* age     - plus the subject's z-scored age (paper: Marlin+Age)
* anchor  - plus the anchor segment, the first quiet segment of the session (paper: Marlin+Anchor)

Usage: python -m benchmarks.hearing_loss_synth_calibration [--subjects 178] [--session-minutes 10]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.results import write_section
from models.hearing_loss.dataset import FeatureStore, read_manifest
from models.hearing_loss.sampling import anchor_index
from models.hearing_loss.split import assign_folds
from models.hearing_loss.synth import SynthConfig, synthesize

PAPER = {  # paper Table 2, 5-fold CV / young / mid / old F1 (%)
    "single": (63.4, 32.9, 60.3, 79.3),
    "age": (69.9, 16.1, 60.6, 85.7),
    "anchor": (63.5, 41.1, 59.7, 76.7),
}
GROUPS = ("young", "mid", "old")


def probe(cohort: Path, seed: int = 0) -> pd.DataFrame:
    manifest = read_manifest(cohort)
    pooled = np.stack([np.r_[x.mean(axis=0), x.std(axis=0)] for x in FeatureStore(cohort).rows(manifest)])
    fold = (
        manifest["subject_id"].map(assign_folds(manifest, 5, seed).set_index("subject_id")["fold"]).to_numpy()
    )
    anchor = anchor_index(manifest).to_numpy()  # read_manifest's RangeIndex: labels are positions
    age = ((manifest["age"] - manifest["age"].mean()) / manifest["age"].std()).to_numpy()[:, None]
    inputs = {"single": pooled, "age": np.c_[pooled, age], "anchor": np.c_[pooled, pooled[anchor]]}
    y = manifest["hearing_loss"].to_numpy()
    rows = []
    for name, x in inputs.items():
        pred = np.zeros_like(y)
        for k in range(5):
            train, test = fold != k, fold == k
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
            pred[test] = clf.fit(x[train], y[train]).predict(x[test])
        groups = [f1_score(y[manifest["age_group"] == g], pred[manifest["age_group"] == g]) for g in GROUPS]
        ours = [f1_score(y, pred), *groups]
        row = {"input": name}
        for label, value, paper in zip(("5-fold", *GROUPS), ours, PAPER[name], strict=True):
            row[f"{label} F1"] = f"{100 * value:.1f} (paper {paper})"
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=178)
    parser.add_argument("--session-minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = replace(
        SynthConfig(),
        subjects=args.subjects,
        session_seconds=(args.session_minutes * 55.0, args.session_minutes * 65.0),
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(config, Path(tmp) / "cohort")
        table = probe(Path(tmp) / "cohort", args.seed)
    print(table.to_string(index=False))
    notes = (
        f"Linear probe (mean+std pooled features, logistic regression C=0.05) on a synthetic cohort of "
        f"{args.subjects} subjects with ~{args.session_minutes:g}-minute sessions (seed {args.seed}), "
        "subject-independent 5-fold CV, segment-level F1 (%). Run: "
        "`python -m benchmarks.hearing_loss_synth_calibration`. This is the generator's calibration "
        "check, not the paper's model: the GRU variants are measured by the model's own benchmark."
    )
    write_section("Synthetic hearing-loss cohort: calibration probe", table, notes)


if __name__ == "__main__":
    main()
