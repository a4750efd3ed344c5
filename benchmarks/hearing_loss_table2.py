"""Paper Table 2 on the synthetic cohort: the five variants under subject-independent 5-fold CV.

Scales (the table states which one made it):

* ``full`` (GPU work): 178 subjects, ~51-minute sessions (~18k segments, §4.1), the paper's
  config (15 epochs, batch 64, lr 1e-4), 5 seeds.
* ``cpu``: 178 subjects with ~4-minute sessions (8 segments each: two per noise level, 1,424
  segments), GRU width 64 instead of 256, 10 fine-tuning and 5 VM epochs, seeds 0 and 1 - about
  an hour on 2 cores.

Also records training throughput, inference latency per request and FLOPs per request, and
draws F1 per age group (Table 2), the age probe (Fig. 5) and the t-SNE (Fig. 4).

Usage: python -m benchmarks.hearing_loss_table2 [--scale cpu|full] [--device auto]
Reruns resume: finished variants are read back, interrupted runs continue from checkpoints.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.results import write_section
from components.split import split_cohort
from core.settings import load_settings
from models.common.config import apply_overrides
from models.common.tracking import LocalTracker
from models.hearing_loss import figures
from models.hearing_loss.crossval import cross_validate
from models.hearing_loss.model import VARIANTS, HearingLossConfig, build
from models.hearing_loss.synth import SynthConfig, synthesize

FIGURES = Path(__file__).with_name("figures")
NAMES = {
    "marlin": "Marlin",
    "marlin_age": "Marlin+Age",
    "marlin_anchor": "Marlin+Anchor",
    "marlin_vm": "Marlin+VM",
    "marlin_vm_abm": "Marlin+VM+ABM",
}
PAPER = {  # paper Table 2: 5-fold CV, young, mid, old F1 (%), mean ± std over five seeds
    "random": ("47.9", "27.5", "47.6", "60.2"),
    "marlin": ("63.4 ± 1.4", "32.9 ± 2.5", "60.3 ± 2.5", "79.3 ± 1.6"),
    "marlin_age": ("69.9 ± 0.9", "16.1 ± 4.3", "60.6 ± 1.9", "85.7 ± 1.4"),
    "marlin_anchor": ("63.5 ± 1.0", "41.1 ± 1.9", "59.7 ± 3.9", "76.7 ± 3.2"),
    "marlin_vm": ("66.4 ± 1.2", "40.6 ± 2.0", "59.4 ± 1.1", "80.6 ± 1.4"),
    "marlin_vm_abm": ("66.9 ± 0.8", "44.8 ± 2.6", "64.3 ± 2.4", "79.4 ± 2.2"),
}
METRICS = ("f1", "f1_young", "f1_mid", "f1_old")
REQUEST_FRAMES = 150  # a 30 s segment at 5 fps


@dataclass(frozen=True)
class Scale:
    session_seconds: tuple[float, float]
    seeds: tuple[int, ...]
    overrides: dict = field(default_factory=dict)


SCALES = {
    "full": Scale(SynthConfig().session_seconds, (0, 1, 2, 3, 4)),
    "cpu": Scale((220.0, 260.0), (0, 1), {"gru_hidden": 64, "epochs": 10, "vm_epochs": 5}),
}


def prepare(root: Path, scale: Scale) -> Path:
    cohort = root / "cohort"
    if not (cohort / "folds.parquet").exists():
        synthesize(SynthConfig(session_seconds=scale.session_seconds, seed=0), cohort)
        split_cohort(cohort, 5, 0)
    return cohort


def run_variant(
    root: Path, cohort: Path, scale: Scale, variant: str, device: str
) -> tuple[dict, pd.DataFrame]:
    out = root / variant
    summary_path, predictions_path = out / "summary.json", out / "predictions.parquet"
    if summary_path.exists():
        return json.loads(summary_path.read_text()), pd.read_parquet(predictions_path)
    config = apply_overrides(HearingLossConfig(variant=variant), scale.overrides)
    summary, predictions = cross_validate(
        config, cohort, LocalTracker(out / "tracking"), out_dir=out / "runs", seeds=scale.seeds, device=device
    )
    first = predictions[predictions["seed"] == scale.seeds[0]]
    np.save(out / "embeddings.npy", np.stack(first["embedding"].to_numpy()))
    predictions.drop(columns=["embedding"]).to_parquet(predictions_path)
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary, predictions.drop(columns=["embedding"])


def with_embeddings(root: Path, variant: str, predictions: pd.DataFrame, seed: int) -> pd.DataFrame:
    first = predictions[predictions["seed"] == seed].copy()
    first["embedding"] = list(np.load(root / variant / "embeddings.npy"))
    return first


def linear_age_probe(first_seed: pd.DataFrame) -> tuple[float, float]:
    """Age information left in the representation, for every variant (the GRL head exists only in ABM).

    Per held-out fold (one model each), a ridge regression from a subject's mean embedding to its
    age, leave-one-subject-out within the fold; Pearson r over all subjects' out-of-sample estimates.
    """
    truth, estimate = [], []
    for _, fold in first_seed.groupby("fold"):
        per_subject = fold.groupby("subject_id").agg(age=("age", "first"), embedding=("embedding", "mean"))
        x = np.stack(per_subject["embedding"].to_numpy())
        ridge = RidgeCV(alphas=np.logspace(-2, 4, 13))
        estimate.append(cross_val_predict(ridge, x, per_subject["age"].to_numpy(), cv=LeaveOneOut()))
        truth.append(per_subject["age"].to_numpy())
    r, p = stats.pearsonr(np.concatenate(truth), np.concatenate(estimate))
    return float(r), float(p)


def throughput(root: Path, variant: str) -> dict[str, float]:
    """Mean training examples/s per stage over every run of the variant."""
    rates: dict[str, list[float]] = {}
    for metrics_file in (root / variant / "runs").glob("seed*/fold*/tracking/metrics.jsonl"):
        for record in map(json.loads, metrics_file.read_text().splitlines()):
            for key in ("vm_examples_per_s", "finetune_examples_per_s"):
                if key in record:
                    rates.setdefault(key, []).append(record[key])
    return {key: statistics.mean(values) for key, values in rates.items()}


def request_costs(configs: dict[str, HearingLossConfig], repeats: int = 50) -> dict[str, dict[str, float]]:
    """FLOPs and latency of one request (batch 1, a 30 s segment and its anchor) per config on this
    CPU; the configs are timed round-robin so load from other processes hits them alike.
    """
    calls = {}
    for name, config in configs.items():
        model = build(config).eval()
        x = torch.randn(1, REQUEST_FRAMES, config.feature_dim)
        lengths = torch.tensor([REQUEST_FRAMES])
        inputs = {"anchor": x, "anchor_lengths": lengths} if config.uses_anchor else {}
        if config.uses_age_input:
            inputs["age_z"] = torch.zeros(1)
        calls[name] = (model, x, lengths, inputs)
    costs: dict[str, dict[str, float]] = {}
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for name, (model, x, lengths, inputs) in calls.items():
            with FlopCounterMode(display=False) as counter:
                model(x, lengths, **inputs)
            costs[name] = {"mflops": counter.get_total_flops() / 1e6}
        for _ in range(repeats):
            for name, (model, x, lengths, inputs) in calls.items():
                start = time.perf_counter()
                model(x, lengths, **inputs)
                times[name].append(time.perf_counter() - start)
    for name, samples in times.items():
        costs[name]["latency_ms_p50"] = 1e3 * float(np.median(samples))
        costs[name]["latency_ms_p95"] = 1e3 * float(np.percentile(samples, 95))
    return costs


def _pm(summary: dict, key: str) -> str:
    mean, std = summary.get(f"{key}_mean"), summary.get(f"{key}_std")
    return "n/a" if mean is None else f"{100 * mean:.1f} ± {100 * std:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    scale = SCALES[args.scale]
    root = load_settings().home / "bench" / "hearing_loss_table2" / args.scale
    cohort = prepare(root, scale)
    started = time.perf_counter()
    summaries, predictions = {}, {}
    for variant in VARIANTS:
        summaries[variant], predictions[variant] = run_variant(root, cohort, scale, variant, args.device)
    minutes = (time.perf_counter() - started) / 60
    first = scale.seeds[0]

    random_row = {
        "method": "Random guessing (coin flip)",
        "GRL age probe r": "-",
        "linear age probe r (p)": "-",
    }
    random_row.update({key: f"{100 * summaries['marlin'][f'random_{key}_mean']:.1f}" for key in METRICS})
    random_row.update({f"paper {key}": value for key, value in zip(METRICS, PAPER["random"], strict=True)})
    rows = [random_row]
    for variant in VARIANTS:
        summary = summaries[variant]
        probe_r, probe_p = linear_age_probe(with_embeddings(root, variant, predictions[variant], first))
        row = {"method": NAMES[variant], **{key: _pm(summary, key) for key in METRICS}}
        row.update({f"paper {key}": value for key, value in zip(METRICS, PAPER[variant], strict=True)})
        row["GRL age probe r"] = _pm(summary, "age_probe_r").replace("n/a", "-")
        row["linear age probe r (p)"] = f"{probe_r:.2f} ({probe_p:.1g})"
        rows.append(row)
    headers = {"f1": "5-fold CV", "f1_young": "Young", "f1_mid": "Mid.", "f1_old": "Old"}
    headers.update({f"paper {key}": f"paper {label}" for key, label in headers.items()})
    order = ["method", *METRICS, *(f"paper {key}" for key in METRICS)]
    order += ["GRL age probe r", "linear age probe r (p)"]
    table = pd.DataFrame(rows)[order].rename(columns=headers)
    config = apply_overrides(HearingLossConfig(), scale.overrides)
    segments = len(pd.read_parquet(cohort / "manifest.parquet"))
    write_section(
        f"Hearing-loss detection, paper Table 2 on the synthetic cohort ({args.scale} scale)",
        table,
        f"""
`python -m benchmarks.hearing_loss_table2 --scale {args.scale}` ({minutes:.0f} min for the
runs not already on disk). F1 (%) of segment predictions pooled over the 5 held-out folds,
mean ± std over seeds {list(scale.seeds)}; `paper` columns are the paper's Table 2 (RLR-CHAT,
real Marlin features), not comparable in level: this cohort is synthetic. Scale: 178 subjects,
{segments} segments, GRU {config.gru_hidden}, {config.epochs} fine-tuning and {config.vm_epochs}
VM epochs, batch {config.batch_size}, lr {config.lr}. GRL age probe: Pearson r between the
ABM age estimator's per-subject output and true age (Fig. 5). Linear age probe: ridge from a
subject's mean embedding to age, leave-one-subject-out within each held-out fold, seed {first}
(age information left in every variant's representation). Figures: benchmarks/figures/.
""",
    )
    labels = {"bench": config, "paper": HearingLossConfig()}
    costs = request_costs(
        {(label, v): replace(cfg, variant=v) for label, cfg in labels.items() for v in VARIANTS}
    )
    speed = []
    for variant in VARIANTS:
        rates = throughput(root, variant)
        row = {"variant": NAMES[variant]}
        for stage in ("vm", "finetune"):
            value = rates.get(f"{stage}_examples_per_s")
            row[f"train {stage} examples/s"] = "-" if value is None else f"{value:.0f}"
        for label in labels:
            cost = costs[(label, variant)]
            row[f"{label} MFLOPs/request"] = f"{cost['mflops']:.0f}"
            row[f"{label} latency ms p50 / p95"] = (
                f"{cost['latency_ms_p50']:.1f} / {cost['latency_ms_p95']:.1f}"
            )
        speed.append(row)
    write_section(
        f"Hearing-loss detector speed ({args.scale} scale)",
        pd.DataFrame(speed),
        f"""
Training throughput: mean examples/s per epoch over all cross-validation runs of the table
above (a fine-tuning example is one segment, or two with an anchor; a VM example is one of the
three segments of a triplet); device {args.device}. Request cost: one request of a
{REQUEST_FRAMES}-frame (30 s) segment (+ its anchor), batch 1, torch CPU inference, FLOPs counted
by torch.utils.flop_counter; `bench` = the GRU width of this run ({config.gru_hidden}),
`paper` = the default config (GRU 256). Config: {json.dumps(scale.overrides) or "defaults"}.
""",
    )
    FIGURES.mkdir(exist_ok=True)
    figures.plot_group_f1(
        {NAMES[v]: summaries[v] for v in VARIANTS}, FIGURES / "hearing_loss_f1_by_age_group.png"
    )
    abm = predictions["marlin_vm_abm"]
    abm_first = abm[abm["seed"] == first]
    r, p = stats.pearsonr(*abm_first.groupby("subject_id")[["age", "age_estimate"]].mean().to_numpy().T)
    figures.plot_age_probe(abm_first, FIGURES / "hearing_loss_age_probe.png", r, p)
    figures.plot_tsne(
        {
            "w/o VM & ABM (Marlin+Anchor)": with_embeddings(
                root, "marlin_anchor", predictions["marlin_anchor"], first
            ),
            "with VM & ABM": with_embeddings(root, "marlin_vm_abm", abm, first),
        },
        FIGURES / "hearing_loss_tsne.png",
    )
    print(table.to_markdown(index=False))
    print(json.dumps({"scale": asdict(scale), "minutes": round(minutes, 1)}))


if __name__ == "__main__":
    main()
