"""Monitoring report time and peak memory on 100k and 1M logged inferences, side by side with
Evidently's DataDriftPreset alone on the same 1M-row, 13-column window (issue 6).

Each measurement runs in its own process (peak RSS from wait4); the window is synthesized in the
inference store's schema with only the input summary the report reads (``current_mean``, 384 floats)
among the list columns, to fit memory. Writes benchmarks/RESULTS.md.

Usage: python -m benchmarks.monitoring_report [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.results import write_section
from models.hearing_loss.traffic import FEATURE_DIM, synthetic_window

# the 13 scalar columns of a logged window that DataDriftPreset compares on its own
PRESET_COLUMNS = [
    "age",
    "age_group",
    "gender",
    "noise_level",
    "probability",
    "label",
    "threshold",
    "age_estimate",
    "current_frames",
    "anchor_frames",
    "model_version",
    "status",
    "hour",
]


def _preset_table(frame: pd.DataFrame) -> pd.DataFrame:
    from monitoring.config import load_config
    from monitoring.drift import with_age_group

    config = load_config("hearing_loss")
    table = with_age_group(frame, config["age_groups"], config["columns"]["age"])
    return table.assign(hour=pd.to_datetime(table["timestamp"]).dt.hour.astype(str))[PRESET_COLUMNS]


def _one(kind: str, rows: int, reference_rows: int) -> dict:
    """One measurement in this process: seconds for the report alone (data made beforehand)."""
    current, labels = synthetic_window(rows, seed=1, subjects=max(200, rows // 500), young_share=0.7)
    reference, _ = synthetic_window(reference_rows, seed=2, subjects=max(200, reference_rows // 500))
    if kind == "preset":
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        cur, ref = _preset_table(current), _preset_table(reference)
        categorical = ["age_group", "gender", "noise_level", "label", "model_version", "status", "hour"]
        definition = DataDefinition(
            numerical_columns=[c for c in PRESET_COLUMNS if c not in categorical],
            categorical_columns=categorical,
        )
        for name in categorical:
            cur[name], ref[name] = cur[name].astype(str), ref[name].astype(str)
        start = time.perf_counter()
        Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
        return {"seconds": time.perf_counter() - start}
    from monitoring.config import load_config
    from monitoring.report import run_report

    # the family's config (importing its spec, torch included) is loaded before the clock starts, as
    # the preset's imports are: both times are the work on the window
    config = load_config("hearing_loss")
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        report = run_report(
            "hearing_loss",
            current,
            reference,
            labels,
            config=config,
            home=Path(home),
            out_dir=Path(home) / "out",
        )
        seconds = time.perf_counter() - start
    overall = report["drift"]["overall"]
    return {
        "seconds": seconds,
        "drift_share": overall["drift_share"],
        "embedding_auc": overall["embedding"]["score"],
    }


def _measure(kind: str, rows: int, reference_rows: int) -> dict:
    """Run ``_one`` in a child process: its result plus peak RSS in MiB."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.monitoring_report",
        "--one",
        kind,
        str(rows),
        str(reference_rows),
    ]
    with tempfile.TemporaryFile() as out:
        # one BLAS/OpenMP thread, as on the 2-core dev machine where six jobs share the cores
        proc = subprocess.Popen(command, stdout=out, env={**os.environ, "OMP_NUM_THREADS": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise RuntimeError(f"{' '.join(command)} failed with status {status}")
        out.seek(0)
        result = json.loads(out.read().decode().strip().splitlines()[-1])
    return result | {"peak_rss_mib": usage.ru_maxrss / 1024}  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows instead of 100k and 1M")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "ROWS", "REFERENCE_ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        kind, rows, reference_rows = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps(_one(kind, rows, reference_rows)))
        return
    small, large = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    # reference as large as the window: the preset's cost grows with both sides, so this is its
    # worst case and the 1M-row setting (a version's held-out reference is usually smaller)
    load_before = os.getloadavg()[0]
    runs = [
        ("full report", small, _measure("full", small, small)),
        ("full report", large, _measure("full", large, large)),
        ("DataDriftPreset alone (13 columns)", large, _measure("preset", large, large)),
    ]
    table = pd.DataFrame(
        [
            {
                "what": what,
                "window rows": rows,
                "reference rows": rows,
                "seconds": round(result["seconds"], 1),
                "peak RSS MiB": round(result["peak_rss_mib"]),
            }
            for what, rows, result in runs
        ]
    )
    load_after = os.getloadavg()[0]
    ratio = runs[1][2]["seconds"] / runs[2][2]["seconds"]
    table["vs preset"] = ["", f"{ratio:.2f}x", "1.00x"]
    notes = f"""
`python -m benchmarks.monitoring_report{" --quick" if args.quick else ""}`: the full monitoring report
(drift overall and per age group incl. per-dimension and embedding drift of the 384-d features,
fairness by age group and gender with 200 subject-bootstrap replicates, age probe, Evidently
snapshots, HTML/JSON files) against Evidently's DataDriftPreset alone on the same window's 13 scalar
columns, each in its own process, 1 thread. The report samples at most 20k rows per side and scope
before Evidently sees them (monitoring/drift.py says what that costs in sensitivity); the preset sees
every row. Peak RSS includes both synthesized frames ({FEATURE_DIM} float32 features per row, about
1.5 GiB per million rows); time excludes making them, imports and loading the family's config.
Full report / preset on {large:,} rows: {ratio:.2f}. Load average (1 min) before / after the runs:
{load_before:.1f} / {load_after:.1f} on {os.cpu_count()} cores (above the 1 this benchmark adds, other
jobs shared the machine).
"""
    print(table.to_string(index=False))
    print(write_section("Monitoring report", table, notes))


if __name__ == "__main__":
    main()
