"""Tracking, registration and gated promotion against a real MLflow on SQLite under tmp_path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from config_support import as_set_flags
from typer.testing import CliRunner

from models import get_family
from models.hearing_loss.evaluate import evaluate

pytestmark = pytest.mark.integration

FAMILY = "hearing_loss"
CONFIG = get_family("hearing_loss").train.tiny()
PASSING = {"quality": {"f1": 0.0, "accuracy": 0.0}}


@pytest.fixture(scope="module")
def tiny_model(trained_tiny, tiny_split: Path) -> tuple[Path, dict]:
    """A real (tiny) hearing-loss artifact and its evaluation report on the held-out fold."""
    path = trained_tiny(CONFIG)
    return path, evaluate(get_family(FAMILY).train.load(path), tiny_split)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from core.settings import load_settings

    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # anything MLflow wrote to the working directory would land here
    return load_settings()


def test_mlflow_tracker_logs_params_metrics_with_steps_and_artifacts(settings, tmp_path: Path) -> None:
    import mlflow

    from components.tracking import mlflow_run

    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "f1.txt").write_text("f1")
    (tmp_path / "report.json").write_text("{}")
    with mlflow_run(settings, experiment="tracker-test", run_name="t") as tracker:
        tracker.log_params(
            {"variant": "marlin_vm_abm", "sizes": (8, 4), "nested": {"lr": 1e-4}, "none": None}
        )
        for epoch in (1, 2):
            tracker.log_metrics({"finetune_loss": 1.0 / epoch, "skipped": None}, step=epoch)
        tracker.log_artifact(tmp_path / "plots")
        tracker.log_artifact(tmp_path / "report.json", name="eval/summary.json")
        run_id = tracker.run_id
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(run_id)
    assert run.data.params == {
        "variant": "marlin_vm_abm",
        "sizes": "[8, 4]",
        "nested.lr": "0.0001",
        "none": "None",
    }
    history = client.get_metric_history(run_id, "finetune_loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5)]
    assert "skipped" not in run.data.metrics
    assert {a.path for a in client.list_artifacts(run_id)} == {"plots", "eval"}
    assert [a.path for a in client.list_artifacts(run_id, "eval")] == ["eval/summary.json"]
    assert run.info.artifact_uri.startswith((settings.home / "mlartifacts").as_uri())
    assert not (tmp_path / "mlruns").exists()


def test_register_promote_and_gate_failure(settings, tiny_model) -> None:
    import mlflow

    from components.promotion import promote
    from components.registry import CHALLENGER, CHAMPION, list_versions, log_and_register

    path, report = tiny_model
    tags = {"dataset_version": "md5-abc", "pipeline_run_id": "run-1"}
    report = {**report, "f1_mid": None}  # a group without positives: undefined, not a number
    first = log_and_register(FAMILY, path, report, run_name="v1", tags=tags, settings=settings)
    assert (first.version, first.aliases) == (1, (CHALLENGER,))
    assert first.tags["dataset_version"] == "md5-abc" and first.tags["git_commit"]

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(first.run_id)
    assert run.data.params["variant"] == "marlin_vm_abm" and run.data.params["gru_hidden"] == "8"
    assert run.data.metrics["f1"] == pytest.approx(report["f1"])
    assert "f1_mid" not in run.data.metrics  # None: not a number, not logged
    assert run.data.tags["pipeline_run_id"] == "run-1"

    uri = f"models:/{FAMILY}@{CHALLENGER}"
    meta = mlflow.models.get_model_info(uri)
    inputs = meta.signature.inputs.to_dict()
    assert [(t["name"], t["tensor-spec"]["shape"]) for t in inputs] == [
        ("current", (-1, 384)),
        ("anchor", (-1, 384)),
    ]
    assert {t["tensor-spec"]["dtype"] for t in inputs} == {"float32"}
    assert meta.saved_input_example_info is not None
    example = get_family(FAMILY).serve.example(CONFIG)
    out = mlflow.pyfunc.load_model(uri).predict(example)
    assert 0.0 <= float(out["probability"]) <= 1.0
    assert int(out["label"]) == int(float(out["probability"]) >= float(out["threshold"]))
    served = mlflow.pyfunc.load_model(uri)
    with pytest.raises(Exception, match=r"missing inputs \['anchor'\]"):  # MLflow's signature check
        served.predict({"current": example["current"]})
    with pytest.raises(ValueError, match="current: contains NaN"):  # the family's serving schema
        served.predict({**example, "current": np.full_like(example["current"], np.nan)})

    result = promote(FAMILY, 1, PASSING, settings=settings)
    assert result.passed
    assert int(client.get_model_version_by_alias(FAMILY, CHAMPION).version) == 1

    second = log_and_register(FAMILY, path, report, run_name="v2", tags=tags, settings=settings)
    assert second.version == 2 and second.aliases == (CHALLENGER,)
    gates = {"quality": {"f1": 1.01}, "fairness": {"f1_mid": 0.3}}
    failed = promote(FAMILY, 2, gates, settings=settings)
    assert not failed.passed and not failed.promoted
    assert failed.reasons == [
        # the paper's metric with its subject-bootstrap interval
        f"quality: f1 = {report['f1']:.4f} (95% CI {report['f1_low']:.4f} to {report['f1_high']:.4f})"
        " is below the floor 1.01",
        "fairness: f1_mid: missing from the evaluation report",
    ]
    assert int(client.get_model_version_by_alias(FAMILY, CHAMPION).version) == 1
    tags2 = client.get_model_version(FAMILY, "2").tags
    assert tags2["gate.passed"] == "false" and "f1_mid: missing" in tags2["gate.reasons"]
    assert tags2["gate.quality.passed"] == "false" and tags2["gate.fairness.passed"] == "false"
    assert tags2["gate.compared_with"] == "version 1"
    assert [(v.version, v.aliases) for v in list_versions(FAMILY, settings=settings)] == [
        (1, (CHAMPION,)),
        (2, (CHALLENGER,)),
    ]
    with pytest.raises(ValueError, match="no version 9"):
        promote(FAMILY, 9, PASSING, settings=settings)


def test_cli_register_promote_list(settings, tiny_model, tmp_path: Path) -> None:
    from affectops.cli import app

    runner = CliRunner()
    path, report = tiny_model
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(report))
    done = runner.invoke(
        app, ["registry", "register", FAMILY, "--model", str(path), "--metrics", str(metrics)]
    )
    assert done.exit_code == 0, done.output
    assert "version 1 (challenger)" in done.output
    done = runner.invoke(app, ["registry", "promote", FAMILY, "1", "--min", "quality.f1=0"])
    assert done.exit_code == 0, done.output
    assert "gate quality: passed" in done.output
    done = runner.invoke(
        app,
        [
            "registry",
            "promote",
            FAMILY,
            "1",
            "--max",
            "age_probe.abs_age_probe_r=0.3",
        ],
    )
    assert done.exit_code == 1 and "abs_age_probe_r: missing" in done.output
    done = runner.invoke(app, ["registry", "list", FAMILY])
    assert done.exit_code == 0 and "challenger,champion" in done.output and "gate=false" in done.output


def test_champion_comparison_force_rollback_and_history(settings, tiny_model, monkeypatch) -> None:
    import mlflow

    from components.promotion import history, promote, rollback
    from components.registry import CHAMPION, log_and_register

    path, report = tiny_model
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    weaker = {**report, "f1": report["f1"] - 0.1}
    for metrics in (report, weaker, report):
        log_and_register(FAMILY, path, metrics, settings=settings)
    gates = {"quality": {"f1_vs_champion": 0.05}}

    assert promote(FAMILY, 1, gates, settings=settings).promoted  # no champion yet: nothing to be worse than
    lower = promote(FAMILY, 2, gates, settings=settings)
    assert not lower.promoted
    assert lower.reasons == [
        f"quality: f1 = {weaker['f1']:.4f} is more than 0.05 below the champion's {report['f1']:.4f}"
    ]
    monkeypatch.setenv("AFFECTOPS_USER", "dana")
    forced = promote(FAMILY, 2, gates, force=True, reason="hotfix for ticket 42", settings=settings)
    assert forced.promoted and forced.forced and not forced.passed
    tags = client.get_model_version(FAMILY, "2").tags
    assert tags["promotion.forced_by"] == "dana" and tags["promotion.reason"] == "hotfix for ticket 42"
    assert tags["gate.quality.passed"] == "false"  # the gates still ran and are on record
    assert promote(FAMILY, 3, gates, settings=settings).promoted  # 3 is compared with champion 2

    events = history(FAMILY, settings=settings)
    assert [(e.action, e.version, e.replaced) for e in events] == [
        ("promote", 1, None),
        ("force", 2, 1),
        ("promote", 3, 2),
    ]
    assert events[1].by == "dana" and events[1].reason == "hotfix for ticket 42"

    assert rollback(FAMILY, settings=settings).version == 2
    assert rollback(FAMILY, reason="2 was forced", settings=settings).version == 1
    assert int(client.get_model_version_by_alias(FAMILY, CHAMPION).version) == 1
    with pytest.raises(ValueError, match="replaced no earlier champion"):
        rollback(FAMILY, settings=settings)
    assert [(e.action, e.version, e.replaced) for e in history(FAMILY, settings=settings)][3:] == [
        ("rollback", 2, 3),
        ("rollback", 1, 2),
    ]
    # nothing was deleted: every version is still registered
    assert len(client.search_model_versions(f"name = '{FAMILY}'")) == 3
    assert "promotion.rolled_back_at" in client.get_model_version(FAMILY, "3").tags


def test_cli_rollback_and_history(settings, tiny_model) -> None:
    from affectops.cli import app
    from components.promotion import promote
    from components.registry import log_and_register

    path, report = tiny_model
    runner = CliRunner()
    done = runner.invoke(app, ["registry", "rollback", FAMILY])
    assert done.exit_code == 2 and "no registered model 'hearing_loss'" in done.output
    for _ in range(2):
        log_and_register(FAMILY, path, report, settings=settings)
        promote(FAMILY, _ + 1, PASSING, settings=settings)
    done = runner.invoke(app, ["registry", "history", FAMILY])
    assert done.exit_code == 0, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 2 and "\tpromote\tversion 2\treplaced 1\t" in lines[1]
    done = runner.invoke(app, ["registry", "rollback", FAMILY, "--reason", "bad canary"])
    assert done.exit_code == 0 and "champion is version 1 again (was 2)" in done.output
    done = runner.invoke(app, ["registry", "history", FAMILY])
    assert done.output.strip().splitlines()[-1].endswith("bad canary")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min", "quality.f1"], "GATE.METRIC=NUMBER"),
        (["--min", "f1=0.5"], "GATE.METRIC=NUMBER"),
        (["--min", "quality.f1=high"], "GATE.METRIC=NUMBER"),
        (["--min", "age_probe.abs_age_probe_r=0.3"], "use --max"),
        ([], "at least one gate threshold"),
        (["--min", "quality.f1=0", "--force"], "needs a reason"),
        (["7", "--min", "quality.f1=0"], "no version 7"),
    ],
)
def test_cli_bad_promote_exits_2(settings, args: list[str], message: str) -> None:
    from affectops.cli import app

    base = ["registry", "promote", FAMILY]
    done = CliRunner().invoke(app, base + (args if args[:1] == ["7"] else ["1", *args]))
    assert done.exit_code == 2 and message in done.output


def test_cli_unknown_family_exits_2(settings) -> None:
    from affectops.cli import app

    done = CliRunner().invoke(app, ["registry", "list", "nope"])
    assert done.exit_code == 2 and "unknown family" in done.output


def test_example_input_matches_signature_dtypes() -> None:
    from components.mlflow_model import signature

    sig = signature(FAMILY, CONFIG)
    example = get_family(FAMILY).serve.example(CONFIG)
    assert sig.inputs.input_names() == list(example)
    assert all(value.dtype == np.float32 for value in example.values())


def test_train_with_the_mlflow_tracker_records_every_epoch_and_the_evaluation(
    settings, tiny_split: Path
) -> None:
    from mlflow import MlflowClient

    from affectops.cli import app

    args = [
        "train",
        "--data",
        str(tiny_split),
        "--tracker",
        "mlflow",
        "--holdout-fold",
        "0",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(app, [*args, *as_set_flags(replace(CONFIG, epochs=2))])
    assert result.exit_code == 0, result.output
    client = MlflowClient(settings.mlflow_tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name(FAMILY).experiment_id])
    history = client.get_metric_history(run.info.run_id, "finetune_loss")
    assert [m.step for m in history] == [1, 2]
    assert "f1" in run.data.metrics and run.data.params["variant"] == "marlin_vm_abm"
    assert run.data.params["holdout_fold"] == "0"
