"""`affectops demo`, the main job, end to end on embedded defaults in a fresh AFFECTOPS_HOME."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_the_training_pipeline_and_reports_what_it_registered(tmp_path: Path) -> None:
    env = {**os.environ, "AFFECTOPS_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    run = subprocess.run(
        [sys.executable, "-m", "affectops", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = run.stdout
    assert run.returncode == 0, out[-4000:] + run.stderr[-4000:]
    assert "80 subjects in 40 sessions" in out
    version = out.split("dataset version (DVC content hash): ")[1].split()[0]
    assert len(version) == 32
    assert (tmp_path / "home" / "dvc-remote" / "files" / "md5" / version[:2] / f"{version[2:]}.dir").is_file()
    assert "held-out fold 0: F1" in out and "per age group: young" in out and "age probe (Fig. 5): " in out
    assert "registered: models:/hearing_loss/1" in out
    for gate in ("quality", "fairness", "age_probe"):
        assert f"gate {gate}: " in out
    docs = out.split("Great Expectations Data Docs: ")[1].split()[0]
    assert "<html" in Path(docs).read_text().lower()
    # served: the held-out fold through the kserve client, then two logged windows reported
    assert "held-out slice over the kserve client: accuracy" in out
    assert "reference-like window: no drift detected" in out
    assert "drifted window (mostly young): DRIFT DETECTED" in out
    report = out.split("=== drifted window (mostly young)")[1]
    assert "age_group" in report and "f1_gap" in report  # the per-group fairness table
    html = report.split("html: ")[1].split()[0]
    assert Path(html).is_file()
