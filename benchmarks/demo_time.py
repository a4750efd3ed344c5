"""Wall time of the main job: ``affectops demo`` in a fresh AFFECTOPS_HOME, per stage and in total.

``python -m benchmarks.demo_time``; writes its section into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

import pandas as pd

from benchmarks.results import write_section

# affectops/console.py: "-> <step>" when a step starts, "   done in <n> s|min" when it ends
STEP = re.compile(r"^-> (?P<stage>.+)$")
DONE = re.compile(r"^   done in (?P<value>[\d.]+) (?P<unit>s|min)$")


def stages(stdout: str) -> list[dict]:
    """Each step of the demo's terminal output with its wall time in seconds."""
    rows, open_step = [], None
    for line in stdout.splitlines():
        if step := STEP.match(line):
            open_step = step["stage"]
        elif (done := DONE.match(line)) and open_step is not None:
            seconds = float(done["value"]) * (60 if done["unit"] == "min" else 1)
            rows.append({"stage": open_step, "wall s": round(seconds, 1)})
            open_step = None
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="affectops-demo-") as home:
        env = {
            k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "AFFECTOPS_DVC_REMOTE")
        }
        env["AFFECTOPS_HOME"] = home
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "affectops", "demo"], env=env, capture_output=True, text=True, check=False
        )
        total = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"the demo failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    rows = stages(done.stdout)
    if not rows:
        raise SystemExit(f"no steps in the demo's output:\n{done.stdout[-3000:]}")
    rows.append({"stage": "total, including start-up", "wall s": round(total, 1)})
    table = pd.DataFrame(rows)
    notes = (
        "`affectops demo` (what `make demo` runs after the install) in a fresh AFFECTOPS_HOME: an 80-subject "
        "cohort through the training pipeline on kfp.local, then serving and monitoring. "
        f"Threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}. "
        "Rerun: `python -m benchmarks.demo_time`."
    )
    write_section("Main job: make demo wall time", table, notes)
    print(table.to_string(index=False))
    for line in done.stdout.splitlines():  # what the demo concluded, beside its timing
        if line.startswith(
            ("held-out fold", "champion:", "held-out slice", "reference-like window:", "drifted window")
        ):
            print(line)


if __name__ == "__main__":
    main()
