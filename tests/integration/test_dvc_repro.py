"""`dvc repro` of the repository's dvc.yaml in a fresh copy of the tracked files."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_dvc_repro_runs_prepare_split_validate(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    repo.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for name in (".dvc", "models", "components"):
        shutil.copytree(
            ROOT / name, repo / name, ignore=shutil.ignore_patterns("tmp", "cache", "__pycache__")
        )
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["prepare"].update(subjects=10, session_minutes=5)  # test size; same stages
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["AFFECTOPS_HOME"] = str(tmp_path / "home")
    dvc = [sys.executable, "-m", "dvc"]

    run = subprocess.run([*dvc, "repro"], cwd=repo, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((repo / "data/validation.json").read_text())
    assert report["success"] is True and report["checked"] > 50
    assert (repo / "data/split/folds.parquet").is_file()
    assert (repo / "data/data-docs/index.html").is_file()
    assert (repo / "dvc.lock").is_file()

    again = subprocess.run([*dvc, "repro"], cwd=repo, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "didn't change" in again.stdout, again.stdout
