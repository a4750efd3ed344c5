"""What kfp.local costs: the training pipeline's steps called directly vs the same pipeline through kfp.local.

``python -m benchmarks.pipeline_overhead [--subjects N]``: one cohort, one model config, two fresh
``AFFECTOPS_HOME``s (so both register version 1 and both version the data from scratch), measured in
one run; the ratio is the overhead a local pipeline run adds (a child process per task, artifact
copies, executor I/O). Writes its section into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from benchmarks.results import write_section

FAMILY = "hearing_loss"
MODEL = {"gru_hidden": 64, "vm_epochs": 1, "epochs": 2}
HOLDOUT_FOLD = 0


def _home(root: Path, name: str) -> None:
    os.environ["AFFECTOPS_HOME"] = str(root / name)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / name / 'mlflow.db'}"
    os.environ.pop("AFFECTOPS_DVC_REMOTE", None)


def direct(cohort: Path, work: Path) -> dict[str, float]:
    """Every step of pipelines/training.py, in order, in this process; seconds per step."""
    from components import steps
    from core.settings import load_settings

    settings = load_settings()
    times: dict[str, float] = {}

    def timed(name: str, fn):
        start = time.perf_counter()
        result = fn()
        times[name] = time.perf_counter() - start
        return result

    version = timed(
        "version", lambda: steps.resolve_dataset(str(cohort), "", work / "data", settings=settings)
    )
    report = timed(
        "validate",
        lambda: steps.validate_dataset(FAMILY, work / "data", work / "docs", work / "validation.json"),
    )
    steps.require_valid(report)
    timed("split", lambda: steps.ensure_split(FAMILY, work / "data", work / "split"))
    config = steps.build_config(FAMILY, overrides=json.dumps(MODEL))
    model, run_id = timed(
        "train",
        lambda: steps.train_model(
            FAMILY, work / "split", work / "model", config, holdout=HOLDOUT_FOLD, settings=settings
        ),
    )
    timed(
        "evaluate",
        lambda: steps.evaluate_model(
            FAMILY, model, work / "split", HOLDOUT_FOLD, work / "report.json", work / "reference.parquet"
        ),
    )
    registered = timed(
        "register",
        lambda: steps.register_model(
            FAMILY,
            model,
            work / "report.json",
            tags={"dataset_version": version},
            settings=settings,
            run_id=run_id,
            artifacts={"data_docs": work / "docs"},
            reference_path=work / "reference.parquet",
        ),
    )
    timed("promote", lambda: steps.promote_model(FAMILY, registered, "", settings=settings))
    return times


def through_kfp_local(cohort: Path) -> float:
    from core.settings import load_settings
    from pipelines.runner import run_local
    from pipelines.training import training_pipeline

    arguments = {"dataset_uri": str(cohort), "overrides": json.dumps(MODEL), "promote": True}
    start = time.perf_counter()
    run_local(training_pipeline(), arguments, settings=load_settings())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=40)
    args = parser.parse_args()
    from models import get_family

    spec = get_family(FAMILY)
    with tempfile.TemporaryDirectory(prefix="affectops-overhead-") as tmp:
        root = Path(tmp)
        cohort = root / "cohort"
        config = replace(spec.data.synth_config(), subjects=args.subjects, session_seconds=(330.0, 390.0))
        spec.data.synthesize(config, cohort)
        _home(root, "direct")
        (root / "work").mkdir()
        start = time.perf_counter()
        steps = direct(cohort, root / "work")
        direct_total = time.perf_counter() - start
        _home(root, "kfp")
        kfp_total = through_kfp_local(cohort)
    table = pd.DataFrame(
        [
            {"run": "steps called directly", "wall s": round(direct_total, 1), "ratio": 1.0},
            {
                "run": "kfp.local (SubprocessRunner)",
                "wall s": round(kfp_total, 1),
                "ratio": round(kfp_total / direct_total, 2),
            },
        ]
    )
    per_step = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items())
    notes = (
        "The training pipeline (version, validate, split, train, evaluate, register, promote) on one "
        f"{args.subjects}-subject synthetic cohort, model {MODEL}, fold {HOLDOUT_FOLD} held out: its "
        "steps called in one process vs the same pipeline through kfp.local, each into a fresh "
        f"AFFECTOPS_HOME. Direct, per step: {per_step}. "
        "Rerun: `python -m benchmarks.pipeline_overhead`."
    )
    write_section("Training pipeline: kfp.local overhead", table, notes)
    print(table.to_string(index=False))
    print(per_step)


if __name__ == "__main__":
    main()
