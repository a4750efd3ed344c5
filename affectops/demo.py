"""The platform's main job on embedded defaults (``make demo``)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from affectops.settings import Settings

T = TypeVar("T")
DATASET = "hearing_loss-demo"
# the paper's full model (§3.2) at demo size: a narrower GRU and fewer epochs, minutes not hours
DEMO_MODEL = {"variant": "marlin_vm_abm", "gru_hidden": 64, "vm_epochs": 3, "epochs": 5}
HOLDOUT_FOLD = 0


def _step(name: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = fn()
    print(f"[{time.perf_counter() - start:6.1f} s] {name}")
    return result


def run_demo(settings: Settings, *, subjects: int = 24, seed: int = 0) -> int:
    """Synthesize a small cohort, split it, validate it, version it; print a summary. Returns an exit code."""
    from components.data_version import version_dataset
    from components.split import split_cohort
    from components.validate import validate_cohort
    from models import get_family
    from models.common.config import apply_overrides
    from models.common.tracking import LocalTracker

    spec = get_family("hearing_loss")
    cohort = settings.home / "datasets" / DATASET
    shutil.rmtree(cohort, ignore_errors=True)
    # ~20-minute sessions instead of one hour: the same format and effects, minutes not hours
    config = replace(spec.synth_config(), subjects=subjects, session_seconds=(1100.0, 1300.0), seed=seed)
    _step(f"synthesize {subjects} subjects -> {cohort}", lambda: spec.synthesize(config, cohort))
    _step("split sessions into 5 subject-independent folds", lambda: split_cohort(cohort, 5, seed))
    report = _step(
        "validate with Great Expectations",
        lambda: validate_cohort(cohort, docs_dir=settings.reports_dir / "data-docs"),
    )
    if not report.success:
        for failure in report.failures:
            print(f"FAILED {failure.describe()}")
        return 1
    version = _step(
        f"version with DVC, push to {settings.dvc_remote}",
        lambda: version_dataset(
            cohort,
            name=DATASET,
            remote=settings.dvc_remote,
            repo=settings.dvc_repo,
            endpoint_url=settings.s3_endpoint_url,
        ),
    )
    run_dir = settings.home / "runs" / "hearing_loss" / "demo"
    model_config = apply_overrides(spec.config(seed=seed), DEMO_MODEL)
    model_path = _step(
        f"train {model_config.variant} (VM pre-training + ABM fine-tuning), fold {HOLDOUT_FOLD} held out",
        lambda: spec.train(
            model_config,
            cohort,
            LocalTracker(run_dir / "tracking"),
            out_dir=run_dir,
            holdout_fold=HOLDOUT_FOLD,
            device="auto",
            resume=False,
        ),
    )
    scores = _step(
        f"evaluate on held-out fold {HOLDOUT_FOLD}",
        lambda: spec.evaluate(spec.load_model(model_path), cohort, HOLDOUT_FOLD),
    )
    print()
    print(spec.format_summary(spec.summarize(cohort)))
    print(f"validation: {report.checked} expectations passed; data docs: {report.docs_index}")
    print(
        f"dataset version (DVC content hash): {version.version} "
        f"({version.files} files, {version.bytes / 1e6:.1f} MB) on {version.remote}"
    )
    print(f"model: {model_path}")
    groups = ", ".join(f"{g} {_pct(scores.get(f'f1_{g}'))}" for g in ("young", "mid", "old"))
    print(
        f"held-out fold {HOLDOUT_FOLD}: F1 {_pct(scores['f1'])} (coin flip {_pct(scores['random_f1'])}); "
        f"per age group: {groups}"
    )
    if "age_probe_r" in scores:
        print(f"age probe (Fig. 5): Pearson r {scores['age_probe_r']:.2f}, p {scores['age_probe_p']:.2f}")
    else:
        print(f"age probe (Fig. 5): n/a, {scores.get('age_probe_subjects', 0)} held-out subjects (needs 3)")
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"
