"""`affectops demo`, the main job, end to end on embedded defaults in a fresh AFFECTOPS_HOME."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_prepares_data_then_trains_and_evaluates_a_model(tmp_path: Path) -> None:
    env = {**os.environ, "AFFECTOPS_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [sys.executable, "-m", "affectops", "demo", "--subjects", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "10 subjects in 5 sessions" in run.stdout
    assert "expectations passed" in run.stdout
    version = run.stdout.split("dataset version (DVC content hash): ")[1].split()[0]
    assert len(version) == 32
    assert (tmp_path / "home" / "dvc-remote" / "files" / "md5" / version[:2] / f"{version[2:]}.dir").is_file()
    assert (tmp_path / "home" / "reports" / "data-docs" / "index.html").is_file()
    assert (tmp_path / "home" / "runs" / "hearing_loss" / "demo" / "model.pt").is_file()
    assert "held-out fold 0: F1" in run.stdout and "age probe (Fig. 5): " in run.stdout
