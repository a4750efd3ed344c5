"""Full-size data layer: synthesize, split, validate, version (DVC) and fetch the cohort.

Each step runs as its own ``affectops`` process, so its wall time and peak memory (max RSS,
including the DVC processes it waits for) are measured alone. Writes benchmarks/RESULTS.md.

Usage: python -m benchmarks.data_layer [--subjects 178] [--session-minutes M] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.results import write_section
from models.hearing_loss.dataset import read_manifest


def _measure(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one CLI call."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "affectops", *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"affectops {' '.join(args)} exited {proc.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=178)
    parser.add_argument("--session-minutes", type=float, default=None, help="default: the generator's")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch space (needs ~3x the cohort)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="affectops-bench-", dir=args.workdir))
    env = {**os.environ, "AFFECTOPS_HOME": str(work / "home")}
    cohort, remote = work / "cohort", work / "remote"
    try:
        steps = {
            "synthesize": [
                "data",
                "synth",
                "--out",
                str(cohort),
                "--subjects",
                str(args.subjects),
                *(["--session-minutes", str(args.session_minutes)] if args.session_minutes else []),
            ],
            "split (5 folds)": ["data", "split", str(cohort)],
            "validate (GE, with Data Docs)": [
                "data",
                "validate",
                str(cohort),
                "--docs-dir",
                str(work / "docs"),
            ],
            "version (DVC add + push, local remote)": [
                "data",
                "version",
                str(cohort),
                "--name",
                "bench",
                "--remote",
                str(remote),
            ],
        }
        rows = []
        for name, cli in steps.items():
            seconds, peak = _measure(cli, env)
            rows.append({"step": name, "wall s": round(seconds, 1), "peak RSS MiB": round(peak)})
            print(rows[-1], flush=True)
        manifest = read_manifest(cohort)
        size = sum(p.stat().st_size for p in cohort.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    notes = (
        f"`make bench` (`python -m benchmarks.data_layer`): {args.subjects} subjects, "
        f"{len(manifest)} segments, "
        f"{manifest['n_frames'].sum()} frames, {size / 2**30:.2f} GiB on disk. Each step is one "
        "`affectops` process; peak RSS is its max resident set (DVC child processes included)."
    )
    write_section("Data layer at full size", table, notes)


if __name__ == "__main__":
    main()
