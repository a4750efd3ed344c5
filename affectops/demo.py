"""The platform's main job on embedded defaults (``make demo``): train, promote, serve, monitor, locally.

A small synthetic cohort goes through the same pipeline a cluster runs (kfp.local): version (DVC),
validate (Great Expectations), split, train, evaluate, register (MLflow on SQLite) and promote
through the quality, fairness and age-probe gates. The champion is then served and watched
(``affectops.demo_traffic``). ``affectops demo --size tiny`` runs every step with a narrower model and
less traffic (``SIZES``): what the tests run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from affectops.console import Console
from affectops.demo_traffic import serve_and_monitor
from core.settings import Settings
from models import DEFAULT_FAMILY as FAMILY
from models.contract import Holdout

# the paper's full model (§3.2) at demo size: a narrower GRU, 3 VM pre-training epochs, the 15 of §4.3
DEMO_MODEL = {"gru_hidden": 64, "vm_epochs": 3, "epochs": 15}
DEMO_SUBJECTS = 80
AGE_GROUPS = ("young", "mid", "old")


@dataclass(frozen=True)
class DemoSize:
    """How large the demo's cohorts and model are; every step runs at any size."""

    subjects: int  # the training cohort's; its held-out fold (a fifth) is the monitoring reference
    model: Mapping[str, int] = field(default_factory=dict)  # training config overrides
    # subjects of the reference-like traffic window's cohort (None: ``subjects``); the drifted window
    # always comes from ``subjects``: its young subjects are what the drift test has to see
    reference_like_subjects: int | None = None


SIZES = {
    "full": DemoSize(DEMO_SUBJECTS, DEMO_MODEL),
    # every step on less: a narrower GRU and a smaller reference-like window (each inference is two
    # logged events, and the sink's ingest sets the pace of serving). The training cohort stays the
    # demo's: its held-out fold (16 subjects) is the fairness gate's data and the monitoring
    # reference, and 85% young traffic just clears the drift test against it. Measured at seed 0 (Dec 2026):
    # this model clears the gates as the demo's does (F1 0.64, young 0.80, gap 0.20, |r| 0.06), and the
    # windows' verdicts are the demo's. Tried and rejected: 8 or 10 epochs (the age probe fails, r
    # 0.68: ABM has not removed age yet), a 16-wide GRU (young F1 0.39 and gap 0.37: too near their
    # bounds), 3-minute sessions (F1 0.24-0.58 and the fairness gate fails; windows of shorter
    # sessions than the reference's differ in their subjects' noise-level mix, which drifts), 40
    # subjects in the drifted window's cohort (15 subjects against 16 in the reference do not clear
    # the drift test's chance level; fewer in the reference-like one pass, 48 with no column drifted)
    "tiny": DemoSize(
        DEMO_SUBJECTS, {"gru_hidden": 32, "vm_epochs": 3, "epochs": 15}, reference_like_subjects=48
    ),
}


def run_demo(
    settings: Settings, *, subjects: int | None = None, seed: int = 0, size: str | DemoSize = "full"
) -> int:
    """Synthesize a cohort, run the training pipeline on it locally, print what it registered, serve and
    monitor it. ``size``: a name in ``SIZES`` or a ``DemoSize``; ``subjects`` overrides its cohort's.
    The terminal gets a line per step and the results; the full logs go to ``<home>/logs/demo-*.log``.
    Exit code."""
    log = settings.home / "logs" / f"demo-{datetime.now():%Y%m%d-%H%M%S}.log"
    with Console(log) as console:
        code = _run(console, settings, subjects=subjects, seed=seed, size=size)
        console.print(f"full logs of this run: {log}")
    return code


def _run(
    console: Console, settings: Settings, *, subjects: int | None, seed: int, size: str | DemoSize
) -> int:
    from mlflow import MlflowClient

    from components.registry import list_versions
    from models import get_family
    from pipelines.runner import run_local
    from pipelines.training import training_pipeline

    size = SIZES[size] if isinstance(size, str) else size
    subjects = size.subjects if subjects is None else subjects
    spec = get_family(FAMILY)
    if spec.monitor is None or spec.monitor.traffic is None:
        raise ValueError(f"family {FAMILY!r} has no synthetic production traffic (monitor.traffic) to demo")
    holdout = spec.data.partitions.holdout("")  # the default: fold 0, or the paper's test partition
    cohort = settings.home / "datasets" / f"{FAMILY}-demo"
    shutil.rmtree(cohort, ignore_errors=True)
    # the traffic's make, with enough subjects that every fold holds positives of every age group, so
    # the fairness gate has data
    config = spec.monitor.traffic.cohort(subjects, seed)
    console.print(f"affectops demo: the {FAMILY} family, seed {seed}, everything under {settings.home}")
    console.step(f"synthesize {subjects} subjects -> {cohort}", lambda: spec.data.synthesize(config, cohort))
    arguments = {
        "dataset_uri": str(cohort),
        "family": FAMILY,
        "variant": "",  # the family's default: the paper's full model
        "overrides": json.dumps(dict(size.model)),
        "seed": seed,
        "holdout": str(holdout),
        "promote": True,
    }
    run_dir = console.step(
        "training pipeline (kfp.local): version, validate, split, train, evaluate, register, promote",
        lambda: run_local(training_pipeline(), arguments, settings=settings),
        tasks=True,
    )
    version = list_versions(FAMILY, settings=settings)[-1]
    metrics = MlflowClient(settings.mlflow_tracking_uri).get_run(version.run_id).data.metrics
    console.print()
    console.print(spec.data.format_summary(spec.data.summarize(cohort)))
    console.print(
        f"dataset version (DVC content hash): {version.tags.get('dataset_version')} on {settings.dvc_remote}"
    )
    _print_scores(console, metrics, holdout)
    console.print(f"registered: {version.model_uri} (aliases: {', '.join(version.aliases) or 'none'})")
    gate_keys = [
        k for k in version.tags if k.startswith("gate.") and k.endswith(".passed") and k != "gate.passed"
    ]
    for key in sorted(gate_keys):
        name = key[len("gate.") : -len(".passed")]
        reasons = version.tags.get(f"gate.{name}.reasons") or ""
        verdict = "passed" if version.tags[key] == "true" else f"FAILED: {reasons}"
        console.print(f"  gate {name}: {verdict}")
    champion = [v.version for v in list_versions(FAMILY, settings=settings) if "champion" in v.aliases]
    console.print(f"champion: {FAMILY} version {champion[0] if champion else 'none'}")
    if not champion:
        console.print("no champion to serve: the version failed a gate (see above)")
        _print_next(console, run_dir, settings)
        return 1
    console.print()
    code = serve_and_monitor(
        console,
        settings,
        run_dir / "split-data" / "split",
        holdout,
        seed=seed,
        subjects=subjects,
        trained_on=config,
        reference_like_subjects=size.reference_like_subjects,
    )
    _print_next(console, run_dir, settings)
    return code


def _print_scores(console: Console, metrics: dict[str, float], holdout: Holdout) -> None:
    groups = ", ".join(f"{g} {_pct(metrics.get(f'f1_{g}'))}{_ci(metrics, f'f1_{g}')}" for g in AGE_GROUPS)
    console.print(
        f"held-out fold {holdout}: F1 {_pct(metrics.get('f1'))} "
        f"(coin flip {_pct(metrics.get('random_f1'))}); "
        f"per age group: {groups}; largest gap {_pct(metrics.get('f1_gap'))}{_ci(metrics, 'f1_gap')}"
    )
    if "age_probe_r" in metrics:
        console.print(
            f"age probe (Fig. 5): Pearson r {metrics['age_probe_r']:.2f}, p {metrics['age_probe_p']:.2f}"
        )
    else:
        console.print(
            f"age probe (Fig. 5): n/a, {int(metrics.get('age_probe_subjects', 0))} held-out subjects "
            "(needs 3)"
        )


def _print_next(console: Console, run_dir: Path, settings: Settings) -> None:
    """Where to look next: the pipeline's reports, the MLflow UI, the Evidently UI."""
    from monitoring.report import workspace_dir

    console.print()
    console.print("where to look next:")
    for pattern, what in (
        ("validate-data/data_docs", "Great Expectations Data Docs"),
        ("evaluate-model/report", "evaluation report (JSON)"),
    ):
        for path in sorted(run_dir.glob(pattern)):
            console.print(f"  {what}: {path}")
    console.print(
        f"  MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_tracking_uri} --port 5000, then "
        f"http://127.0.0.1:5000/#/models/{FAMILY} (the versions, their gate tags and the champion alias)"
    )
    console.print(
        f"  Evidently UI: affectops monitor ui --port 8000, then http://127.0.0.1:8000 (project {FAMILY}: "
        f"the windows' drift and fairness reports; workspace {workspace_dir(settings.home)})"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _ci(metrics: dict[str, float], key: str) -> str:
    low, high = metrics.get(f"{key}_low"), metrics.get(f"{key}_high")
    return "" if low is None or high is None else f" [{100 * low:.0f}-{100 * high:.0f}]"
