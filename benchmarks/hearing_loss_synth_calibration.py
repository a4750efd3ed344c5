"""Model-free oracle checks of the SYNTHETIC hearing-loss cohort: does it contain what the paper tests?

The generator's parameters are set by these checks only, then frozen before any variant is trained
(never tuned after seeing a variant's score). One column per cohort: the default and the null controls
of ``synth.NULL_CONTROLS``. Checks (none uses a trained model of the paper):

* planted-direction AUC (hypothesis 1, the anchor): per noise level, the ROC AUC of hearing loss
  from a segment's mean feature projected on the planted direction ``w_hl`` - the segment alone
  (``single``) and minus its anchor, the session's first quiet segment (``anchor``). The anchor
  should reveal what one segment hides; quiet segments should carry nothing;
* age-only AUC (hypothesis 2, the shortcut): hearing loss from age alone, over all segments and
  within each age group (an easy cue overall, useless within a group, so it fails on the young);
* initial triplet loss (hypothesis 3, VM has work to do): Eq. 1 with margin 1 on 512 triplets at
  75 dBA through a random (untrained) encoder of the benchmark's and the paper's GRU widths, its share
  of active triplets (loss > 0) and the mean within-subject quiet-quiet distance ||E(q1) - E(q2)||
  (Eq. 1 on concatenated V is inactive once that distance exceeds about margin / (sqrt 2 - 1) = 2.4);
* linear probe (mean + std pooled features, logistic regression C=0.05, subject-independent
  5-fold CV, segment-level F1): single segment, + age, + anchor.

Usage: python -m benchmarks.hearing_loss_synth_calibration [--subjects 178] [--session-minutes 10]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.results import write_section
from models.hearing_loss.data import SegmentReader
from models.hearing_loss.dataset import NOISE_LEVELS_DBA, FeatureStore, read_manifest
from models.hearing_loss.model import HearingLossConfig, build, triplet_loss, vm_embed
from models.hearing_loss.sampling import anchor_index, sample_triplets
from models.hearing_loss.split import assign_folds
from models.hearing_loss.synth import NULL_CONTROLS, SynthConfig, planted_directions, synthesize

GROUPS = ("young", "mid", "old")
TRIPLETS = 512
WIDTHS = (32, 256)  # the reduced / cpu benchmark's GRU width and the paper-default width


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


def planted_auc(manifest: pd.DataFrame, means: np.ndarray, w_hl: np.ndarray) -> dict[str, float]:
    """AUC along ``w_hl`` of the segment alone and relative to its anchor, per noise level."""
    projection = means @ w_hl
    relative = projection - projection[anchor_index(manifest).to_numpy()]
    y = manifest["hearing_loss"].to_numpy()
    out = {}
    for level in NOISE_LEVELS_DBA:
        at = manifest["noise_level_dba"].to_numpy() == level
        name = "quiet" if level == 0 else f"{level} dBA"
        out[f"AUC along w_hl, single segment, {name}"] = _auc(y[at], projection[at])
        out[f"AUC along w_hl, anchor-relative, {name}"] = _auc(y[at], relative[at])
    return out


def age_auc(manifest: pd.DataFrame) -> dict[str, float]:
    y, age = manifest["hearing_loss"].to_numpy(), manifest["age"].to_numpy()
    out = {"age-only AUC, all": _auc(y, age)}
    for group in GROUPS:
        at = manifest["age_group"].to_numpy() == group
        out[f"age-only AUC, {group}"] = _auc(y[at], age[at])
    return out


@torch.inference_mode()
def initial_triplets(cohort: Path, manifest: pd.DataFrame, width: int, seed: int = 0) -> dict[str, float]:
    """Eq. 1 through a random encoder of GRU width ``width`` on 75 dBA triplets."""
    model = build(HearingLossConfig(variant="marlin_vm", gru_hidden=width, seed=seed)).eval()
    triplets = sample_triplets(manifest, np.random.default_rng(seed), TRIPLETS, (75,))
    reader = SegmentReader(cohort, manifest)
    means, active, d_qq = [], [], []
    for chosen in np.array_split(np.arange(TRIPLETS), TRIPLETS // 64):
        segments = []
        for column in range(3):
            segments += list(reader.pad(triplets[chosen, column]))
        v_a, v_p, v_n = vm_embed(model, *segments)
        means.append(float(triplet_loss(v_a, v_p, v_n, margin=1.0)))  # paper: Eq. 1
        hinge = 1.0 + (v_a - v_p).norm(dim=-1) - (v_a - v_n).norm(dim=-1)
        active.append(float((hinge > 0).float().mean()))
        d_qq.append(float((v_a - v_p).norm(dim=-1).mean()))  # = ||E(q1) - E(q2)||
    return {
        f"random encoder (GRU {width}): triplet loss": float(np.mean(means)),
        f"random encoder (GRU {width}): active triplets": float(np.mean(active)),
        f"random encoder (GRU {width}): mean ||E(q1)-E(q2)||": float(np.mean(d_qq)),
    }


def probe(manifest: pd.DataFrame, pooled: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Linear probe F1 (segment level, pooled over 5 subject-independent folds)."""
    fold = (
        manifest["subject_id"].map(assign_folds(manifest, 5, seed).set_index("subject_id")["fold"]).to_numpy()
    )
    anchor = anchor_index(manifest).to_numpy()  # read_manifest's RangeIndex: labels are positions
    age = ((manifest["age"] - manifest["age"].mean()) / manifest["age"].std()).to_numpy()[:, None]
    inputs = {"single": pooled, "+ age": np.c_[pooled, age], "+ anchor": np.c_[pooled, pooled[anchor]]}
    y = manifest["hearing_loss"].to_numpy()
    out = {}
    for name, x in inputs.items():
        pred = np.zeros_like(y)
        for k in range(5):
            train, test = fold != k, fold == k
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
            pred[test] = clf.fit(x[train], y[train]).predict(x[test])
        out[f"linear probe {name}: F1 all"] = f1_score(y, pred)
        young = manifest["age_group"].to_numpy() == "young"
        out[f"linear probe {name}: F1 young"] = f1_score(y[young], pred[young])
    return out


def oracle_checks(config: SynthConfig, work: Path) -> dict[str, float]:
    cohort = work / "cohort"
    synthesize(config, cohort)
    manifest = read_manifest(cohort)
    frames = list(FeatureStore(cohort).rows(manifest))
    means = np.stack([x.mean(axis=0) for x in frames])
    pooled = np.c_[means, np.stack([x.std(axis=0) for x in frames])]
    checks = planted_auc(manifest, means, planted_directions(config)["hl"])
    checks.update(age_auc(manifest))
    for width in WIDTHS:
        checks.update(initial_triplets(cohort, manifest, width, config.seed))
    checks.update(probe(manifest, pooled, config.seed))
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=178)
    parser.add_argument("--session-minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = replace(
        SynthConfig(),
        subjects=args.subjects,
        session_seconds=(args.session_minutes * 55.0, args.session_minutes * 65.0),
        seed=args.seed,
    )
    cohorts = {"default": base}
    cohorts.update({name: replace(base, **change) for name, change in NULL_CONTROLS.items()})
    # the old cohort's nuisance scales with every noise effect off: is Eq. 1 active at all?
    cohorts["no noise effects"] = replace(base, common_reaction=0.0, hl_reaction=0.0, hl_variability=0.0)
    columns = {}
    for name, config in cohorts.items():
        with tempfile.TemporaryDirectory() as tmp:
            columns[name] = oracle_checks(config, Path(tmp))
        print(name, "done", flush=True)
    table = pd.DataFrame(columns).map(lambda v: f"{v:.2f}").rename_axis("check").reset_index()
    print(table.to_string(index=False))
    notes = (
        f"SYNTHETIC cohort (`models/hearing_loss/synth.py`), {args.subjects} subjects with "
        f"~{args.session_minutes:g}-minute sessions (seed {args.seed}). Model-free oracle checks by which "
        "the generator's parameters were set and then frozen before any variant was trained "
        "(`python -m benchmarks.hearing_loss_synth_calibration`; what each check is: the module "
        "docstring). Columns: the default cohort; `no_reaction` and `no_age_correlation`, the null "
        "controls (`synth.NULL_CONTROLS`); `no noise effects`, the default with every noise reaction "
        "off (common and hearing-loss), for the triplet loss's geometry alone. AUC along w_hl uses the "
        "generator's planted direction (an oracle no model has); F1 is a fraction here, not %."
    )
    write_section("Synthetic hearing-loss cohort: oracle checks", table, notes)


if __name__ == "__main__":
    main()
