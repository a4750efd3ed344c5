"""The training pipeline, unchanged, on an expression dataset with ``kfp.local``: versioned, validated,
split, trained, evaluated, registered with its monitoring reference and plots, and gated by the
family's own quality gate (mean F1, paper Eq. 5). The run is the session's shared one
(tests/e2e/conftest.py: ``affectops pipeline run --local --param family=expression``)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from e2e_support import EXPRESSION_DATA, PipelineRun
from mlflow import MlflowClient

from components.registry import CHALLENGER, CHAMPION, list_versions
from models import get_family

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAMILY = "expression"
SPEC = get_family(FAMILY)


def test_the_training_pipeline_trains_registers_and_gates_an_expression_model(
    expression_pipeline_run: PipelineRun,
) -> None:
    settings, run_dir = expression_pipeline_run.settings, expression_pipeline_run.run_dir
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
    assert len(held_out) == EXPRESSION_DATA["videos"]  # every video of the dataset, split into folds
    assert len(reference) == int((held_out["fold"] == 0).sum())  # one request per held-out video
    assert reference.filter(like="labels_share_").fillna(0.0).sum(axis=1).round(6).eq(1.0).all()
