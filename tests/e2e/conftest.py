"""Shared end-to-end runs: each family's training pipeline runs once per session (a kfp.local run costs
a minute or two, mostly a process and its imports per task), and every test that needs such a run
asserts on the shared one. Read-only: a test that writes (serves, logs, reports) uses a home of its own
and reads the shared registry through its MLflow URI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import EXPRESSION_DATA, EXPRESSION_MODEL, DemoRun, PipelineRun

from core.settings import load_settings

# the demo at its tiny size (affectops/demo.py SIZES): every step of the main job; 15 minutes before
# it is declared hung on a loaded 2-core machine
DEMO_TIMEOUT_S = 900
PIPELINE_TIMEOUT_S = 900


def _clean_env(home: Path) -> dict[str, str]:
    """This environment with ``home`` as AFFECTOPS_HOME and every endpoint at its embedded default."""
    env = {**os.environ, "AFFECTOPS_HOME": str(home)}
    for name in (
        "MLFLOW_TRACKING_URI",
        "AFFECTOPS_DVC_REMOTE",
        "AFFECTOPS_S3_ENDPOINT_URL",
        "AFFECTOPS_KFP_HOST",
        "AFFECTOPS_INFERENCE_LOG_REMOTE",
    ):
        env.pop(name, None)
    return env


@pytest.fixture(scope="session")
def hearing_loss_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The hearing-loss family's shared pipeline run: the tiny demo's (tests/e2e/test_demo.py says why
    its sizes are what they are). Used by test_demo.py (its printed steps and verdicts) and
    test_pipeline_local.py (the registered version, its tags and artifacts)."""
    home = tmp_path_factory.mktemp("demo") / "home"
    done = subprocess.run(
        [sys.executable, "-m", "affectops", "demo", "--size", "tiny"],
        env=_clean_env(home),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    logs = sorted((home / "logs").glob("demo-*.log"))
    assert done.returncode == 0, (
        done.stdout[-4000:] + done.stderr[-4000:] + "".join(log.read_text()[-4000:] for log in logs)
    )
    return DemoRun(home, done.stdout)


@pytest.fixture(scope="session")
def expression_pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """The expression family's shared pipeline run, through the CLI (``--param`` parsing included):
    promoted by the family's own gate, no gate_thresholds. Used by test_expression_pipeline.py (what
    the pipeline registered) and test_expression_monitoring.py (its champion, served and monitored)."""
    from models import get_family

    root = tmp_path_factory.mktemp("expression-pipeline")
    dataset = root / "expression-tiny"  # unsplit: the pipeline's split step makes the folds
    spec = get_family("expression")
    spec.data.synthesize(spec.data.synth_config(**EXPRESSION_DATA), dataset)
    home = root / "home"
    command = [sys.executable, "-m", "affectops", "pipeline", "run", "--local", "--dataset-uri", str(dataset)]
    for name, value in (
        ("family", "expression"),
        ("overrides", json.dumps(EXPRESSION_MODEL)),
        ("promote", "true"),
    ):
        command += ["--param", f"{name}={value}"]
    done = subprocess.run(
        command, env=_clean_env(home), capture_output=True, text=True, timeout=PIPELINE_TIMEOUT_S
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (run_dir,) = (home / "kfp-local").iterdir()
    return PipelineRun(dataset, run_dir, load_settings({"AFFECTOPS_HOME": str(home)}))
