"""The command line, driven in-process through typer's runner on tiny cohorts."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from affectops.cli import app
from models import FAMILIES, get_family

pytestmark = pytest.mark.unit
runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "data"),
        (["data"], "validate"),
        (["data", "synth"], "exact data format"),
        (["data", "featurize"], "Recorded raw media"),
        (["data", "split"], "subject-independent folds"),
        (["data", "validate"], "Great Expectations"),
        (["data", "version"], "DVC"),
        (["data", "fetch"], "exact dataset version"),
        (["data", "summary"], "age groups"),
        (["demo"], "main job"),
        (["train"], "torchrun"),
        (["evaluate"], "held-out fold"),
        (["crossval"], "mean ± std"),
        (["registry"], "rollback"),
        (["registry", "history"], "champion when"),
        (["pipeline"], "upload"),
        (["serve"], "package"),
        (["serve", "deploy"], "InferenceService"),
        (["monitor"], "sink"),
        (["monitor", "report"], "age probe"),
    ],
)
def test_every_command_explains_itself(args: list[str], expected: str) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    assert expected in " ".join(result.output.split())


def test_commands_that_need_a_cluster_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFFECTOPS_KFP_HOST", raising=False)
    result = runner.invoke(app, ["pipeline", "upload"])
    assert result.exit_code == 2 and "AFFECTOPS_KFP_HOST" in result.output
    result = runner.invoke(app, ["monitor", "report", "--model", "hearing_loss", "--window", "7 days"])
    assert result.exit_code == 2 and "--window takes a count and a unit" in result.output
    result = runner.invoke(app, ["serve", "package", "hearing_loss", "--out", "x"])
    assert result.exit_code == 2 and "is not NAME@ALIAS or NAME/VERSION" in result.output


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_synth_split_validate_summary(tmp_path: Path, home: Path) -> None:
    cohort = tmp_path / "cohort"
    result = runner.invoke(
        app, ["data", "synth", "--out", str(cohort), "--subjects", "10", "--session-minutes", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "10 subjects in 5 sessions" in result.output
    assert runner.invoke(app, ["data", "split", str(cohort)]).exit_code == 0
    report = tmp_path / "validation.json"
    result = runner.invoke(app, ["data", "validate", str(cohort), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "validation passed" in result.output
    assert (home / "reports" / "data-docs" / "index.html").is_file()
    assert '"success": true' in report.read_text()
    assert "folds (subjects, positive rate)" in runner.invoke(app, ["data", "summary", str(cohort)]).output


def test_validate_exits_1_and_names_the_failure(tiny_cohort: Path, tmp_path: Path, home: Path) -> None:
    cohort = Path(shutil.copytree(tiny_cohort, tmp_path / "bad"))
    manifest = pd.read_parquet(cohort / "manifest.parquet")
    manifest.loc[0, "noise_level_dba"] = 60
    manifest.to_parquet(cohort / "manifest.parquet", index=False)
    result = runner.invoke(app, ["data", "validate", str(cohort), "--docs-dir", str(tmp_path / "docs")])
    assert result.exit_code == 1
    assert "FAILED manifest.noise_level_dba" in result.output and "noise_level_dba=60" in result.output


def test_fetch_of_an_unknown_version_is_a_clear_error(tmp_path: Path, home: Path) -> None:
    result = runner.invoke(app, ["data", "fetch", "0" * 32, "--name", "x", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_unknown_family_is_rejected_by_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "c"), "--family", "pain"])
    assert result.exit_code == 2
    assert f"unknown family 'pain'; known: {', '.join(sorted(FAMILIES))}" in result.output


def test_featurize_names_a_family_that_builds_no_dataset_from_media(tmp_path: Path) -> None:
    family = next(name for name in sorted(FAMILIES) if get_family(name).data.featurize is None)
    csv = tmp_path / "recordings.csv"
    csv.write_text("video\n")
    result = runner.invoke(
        app, ["data", "featurize", str(csv), "--out", str(tmp_path / "d"), "--family", family]
    )
    assert result.exit_code == 2
    assert f"family {family} builds no dataset from recorded media" in result.output
    assert not (tmp_path / "d").exists()


def test_validate_rejects_an_unknown_family_by_name(tiny_cohort: Path, home: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(tiny_cohort), "--family", "pain"])
    assert result.exit_code == 2
    assert "unknown family 'pain'" in result.output


def test_monitor_report_reports_every_model_and_exits_2_when_one_cannot_be_made(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = runner.invoke(app, ["monitor", "report", "--model", "hearing_loss", "--model", "expression"])
    # neither is registered in a fresh registry: both are tried and named
    assert result.exit_code == 2
    assert "error: hearing_loss: no registered model 'hearing_loss'" in result.output
    assert "error: expression: no registered model 'expression'" in result.output
    result = runner.invoke(
        app, ["monitor", "report", "--model", "hearing_loss", "--model", "expression", "--version", "1"]
    )
    assert result.exit_code == 2
    assert "--version, --out and --retrain-dataset apply to one model" in result.output
