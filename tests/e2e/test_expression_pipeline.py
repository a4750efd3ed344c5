"""The training pipeline, unchanged, on an expression dataset with ``kfp.local``: versioned, validated,
split, trained, evaluated, registered with its monitoring reference and plots, and gated by the
family's own quality gate (mean F1, paper Eq. 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from components.registry import CHALLENGER, CHAMPION, list_versions
from core.settings import load_settings
from models import get_family
from pipelines.runner import run_local
from pipelines.training import training_pipeline

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner:UserWarning"),
]

FAMILY = "expression"
SPEC = get_family(FAMILY)
TINY_MODEL = {
    "variant": "lstm",
    "features": "mae,fbank",
    "fusion_dim": 32,
    "layers": 1,
    "heads": 2,
    "feedforward_dim": 64,
    "segment_length": 32,
    "stride": 32,
    "classifier_hidden": "32,16",
    "epochs": 10,
    "batch_size": 8,
    "lr": 2e-3,
}


def test_the_training_pipeline_trains_registers_and_gates_an_expression_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("AFFECTOPS_DVC_REMOTE", raising=False)
    monkeypatch.delenv("AFFECTOPS_S3_ENDPOINT_URL", raising=False)
    dataset = tmp_path / "expression-tiny"  # unsplit: the pipeline's split step makes the folds
    synth = SPEC.data.synth_config(
        videos=20, frames=(200, 300), episode_frames=30.0, features=("mae", "fbank"), class_prior=(1.0,) * 8
    )
    SPEC.data.synthesize(synth, dataset)
    settings = load_settings()

    arguments = {
        "dataset_uri": str(dataset),
        "family": FAMILY,
        "overrides": json.dumps(TINY_MODEL),
        "promote": True,
    }
    run_dir = run_local(training_pipeline(), arguments, settings=settings)

    (version,) = list_versions(FAMILY, settings=settings)
    client = MlflowClient(settings.mlflow_tracking_uri)
    metrics = client.get_run(version.run_id).data.metrics
    floor = SPEC.evaluate.gates["quality"]["f1"]
    # the family's own gate (no gate_thresholds given): champion exactly when mean F1 clears its floor
    passed = metrics["f1"] >= floor
    assert set(version.aliases) == ({CHALLENGER, CHAMPION} if passed else {CHALLENGER})
    assert version.tags["gate.passed"] == str(passed).lower()
    assert version.tags["gate.quality.passed"] == str(passed).lower()
    assert json.loads(version.tags["gate.quality.thresholds"]) == dict(SPEC.evaluate.gates["quality"])
    assert json.loads(version.tags["gate.quality.checks"])["f1"] == pytest.approx(metrics["f1"])
    assert version.tags["gate.compared_with"] == "no champion"
    assert metrics["f1"] > metrics["random_f1"]  # the tiny model learned something
    assert {f"f1_{name}" for name in ("neutral", "happiness", "other")} <= set(metrics)
    assert len(version.tags["dataset_version"]) == 32 and version.run_id == version.tags["training_run_id"]
    assert json.loads(client.get_run(version.run_id).data.params["features"]) == ["mae", "fbank"]

    plots = {a.path for a in client.list_artifacts(version.run_id, "plots")}
    assert plots == {"plots/f1_by_class.png", "plots/predicted_classes.png"}
    (reference_file,) = run_dir.glob("evaluate-model/reference")
    reference = pd.read_parquet(reference_file)
    held_out = SPEC.data.load(next(run_dir.glob("split-data/split")))
    assert len(reference) == int((held_out["fold"] == 0).sum())  # one request per held-out video
    assert reference.filter(like="labels_share_").fillna(0.0).sum(axis=1).round(6).eq(1.0).all()
