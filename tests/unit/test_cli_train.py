"""`affectops train / evaluate / crossval` in-process on the tiny split cohort."""

import json
from pathlib import Path

import pytest
from config_support import as_set_flags
from typer.testing import CliRunner

from affectops.cli import app
from models import get_family

pytestmark = pytest.mark.unit
runner = CliRunner()
TINY = as_set_flags(get_family("hearing_loss").train.tiny())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_train_on_a_held_out_fold_prints_and_writes_the_papers_metrics(tiny_split: Path, home: Path) -> None:
    args = ["train", "--data", str(tiny_split), "--variant", "marlin_vm_abm", *TINY]
    result = runner.invoke(app, [*args, "--holdout-fold", "0", "--device", "cpu", "--seed", "3"])
    assert result.exit_code == 0, result.output
    run = home / "runs" / "hearing_loss" / "marlin_vm_abm-seed3"
    scores = json.loads((run / "metrics.json").read_text())
    assert {"f1", "f1_young", "f1_mid", "f1_old", "age_probe_subjects"} <= scores.keys()
    assert (run / "model.pt").exists() and (run / "tracking" / "metrics.jsonl").exists()

    model = str(run / "model.pt")
    ok = runner.invoke(
        app, ["evaluate", "--model", model, "--data", str(tiny_split), "--report", str(home / "m.json")]
    )
    assert ok.exit_code == 0 and json.loads((home / "m.json").read_text())["f1"] == scores["f1"]
    leak = runner.invoke(app, ["evaluate", "--model", model, "--data", str(tiny_split), "--fold", "1"])
    assert leak.exit_code == 2 and "in this model's training data" in leak.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "epoch=2"], "unknown config field(s) epoch"),
        (["--set", "epochs"], "not of the form key=value"),
        (["--variant", "marlin_plus"], "unknown variant 'marlin_plus'"),
        (["--family", "nope"], "unknown family 'nope'"),
        (["--holdout-fold", "9"], "holdout fold 9 is not among"),
    ],
)
def test_train_usage_errors_exit_2_with_the_reason(
    tiny_split: Path, home: Path, extra: list, message: str
) -> None:
    result = runner.invoke(app, ["train", "--data", str(tiny_split), *TINY, "--device", "cpu", *extra])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_crossval_writes_summary_and_predictions(tiny_split: Path, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "cv"
    args = [
        "crossval",
        "--data",
        str(tiny_split),
        "--variant",
        "marlin",
        *TINY,
        "--seeds",
        "0",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0] and summary["folds"] == [0, 1, 2, 3, 4] and "f1_mean" in summary
    assert (out / "predictions.parquet").exists()
    bad = runner.invoke(app, ["crossval", "--data", str(tiny_split), "--seeds", "0,x"])
    assert bad.exit_code == 2 and "comma-separated integers" in bad.output
