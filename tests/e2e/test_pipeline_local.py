"""The whole hearing-loss training pipeline with ``kfp.local`` (STYLE §4 level 3): a tiny synthetic
cohort is versioned, validated, split, trained on, evaluated, registered and promoted, with MLflow on
SQLite. The promoted run is the session's shared one, the tiny demo's (tests/e2e/conftest.py); the
retraining run has parameters of its own (the lineage of a monitoring breach) and runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from config_support import as_overrides
from e2e_support import DemoRun
from mlflow import MlflowClient

from components.registry import CHALLENGER, CHAMPION, list_versions
from core.settings import load_settings
from models import get_family
from models.hearing_loss.synth import SynthConfig, synthesize

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner:UserWarning"),
]

TINY_MODEL = as_overrides(get_family("hearing_loss").train.tiny())


def test_the_training_pipeline_runs_locally_and_registers_a_promoted_version(
    hearing_loss_demo: DemoRun,
) -> None:
    settings = hearing_loss_demo.settings
    (version,) = list_versions("hearing_loss", settings=settings)
    assert set(version.aliases) == {CHALLENGER, CHAMPION}
    assert len(version.tags["dataset_version"]) == 32  # the DVC content hash of the cohort
    assert version.tags["pipeline_run_id"] and version.tags["training_run_id"]
    assert version.tags["gate.passed"] == "true" and version.tags["gate.quality.passed"] == "true"
    client = MlflowClient(settings.mlflow_tracking_uri)
    training_run = client.get_run(version.tags["training_run_id"])
    assert training_run.data.tags["dataset_version"] == version.tags["dataset_version"]
    assert any(key.startswith("finetune") for key in training_run.data.metrics)  # per-epoch metrics
    # one run holds it all: the model, its evaluation, plots, Data Docs and the monitoring reference
    assert version.run_id == version.tags["training_run_id"]
    assert "f1" in training_run.data.metrics and "accuracy" in training_run.data.metrics
    top = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"evaluation.json", "plots", "data_docs", "reference"} <= top
    assert "plots/f1_by_age_group.png" in {a.path for a in client.list_artifacts(version.run_id, "plots")}
    assert [a.path for a in client.list_artifacts(version.run_id, "reference")] == [
        "reference/reference.parquet"
    ]
    (docs,) = hearing_loss_demo.run_dir.glob("validate-data/data_docs")
    assert "<html" in docs.read_text().lower()


def test_a_monitoring_breach_starts_the_pipeline_with_the_window_in_its_lineage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitoring.gates import Breach
    from monitoring.job import MonitoringResult
    from pipelines.retrain import retrain

    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("AFFECTOPS_DVC_REMOTE", raising=False)
    monkeypatch.delenv("AFFECTOPS_KFP_HOST", raising=False)
    monkeypatch.delenv("AFFECTOPS_INFERENCE_LOG_REMOTE", raising=False)
    cohort = tmp_path / "tiny-cohort"
    # what this run is about is its lineage, not its model: 10 subjects (2 per fold) in short sessions
    # of 5-6 segments (at least 4 give every subject the quiet segment its anchor needs)
    synthesize(SynthConfig(subjects=10, session_seconds=(160.0, 190.0), seed=1), cohort)
    window = {"start": "2026-11-01T00:00:00+00:00", "end": "2026-11-08T00:00:00+00:00", "rows": 500}
    breach = Breach("drift_share", "overall", 0.8, 0.5, "ceiling")
    result = MonitoringResult(report={"window": window}, breaches=[breach], alerts=None)
    settings = load_settings()

    run_dir = retrain(
        result,
        family="hearing_loss",
        dataset_uri=str(cohort),
        store_root=tmp_path / "log",
        settings=settings,
        overrides=json.dumps(TINY_MODEL),
    )
    assert Path(run_dir).is_dir()
    (version,) = list_versions("hearing_loss", settings=settings)
    run = MlflowClient(settings.mlflow_tracking_uri).get_run(version.tags["training_run_id"])
    lineage = json.loads(run.data.tags["lineage"])
    assert lineage["trigger"] == "monitoring"
    assert lineage["window"]["uri"] == f"{tmp_path / 'log'}/data/model_name=hearing_loss"
    assert lineage["sources"] == [str(cohort), lineage["window"]["uri"]]
    assert lineage["breaches"] == [breach.message]
