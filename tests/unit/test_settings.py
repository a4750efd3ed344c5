from pathlib import Path

import pytest

from core.settings import load_settings

pytestmark = pytest.mark.unit


def test_defaults_live_under_affectops_home(tmp_path: Path) -> None:
    settings = load_settings({"AFFECTOPS_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.dvc_remote == str(tmp_path / "dvc-remote")
    assert settings.dvc_repo == tmp_path / "dvc-repo"
    assert settings.s3_endpoint_url is None and settings.kfp_host is None


def test_environment_overrides_every_endpoint(tmp_path: Path) -> None:
    env = {
        "AFFECTOPS_HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "AFFECTOPS_S3_ENDPOINT_URL": "http://minio:9000",
        "AFFECTOPS_S3_BUCKET": "b",
        "AFFECTOPS_DVC_REMOTE": "s3://b/dvc",
        "AFFECTOPS_KFP_HOST": "http://kfp",
        "AFFECTOPS_SINK_URL": "http://sink",
    }
    settings = load_settings(env)
    assert (settings.mlflow_tracking_uri, settings.s3_endpoint_url, settings.s3_bucket) == (
        "http://mlflow:5000",
        "http://minio:9000",
        "b",
    )
    assert (settings.dvc_remote, settings.kfp_host, settings.sink_url) == (
        "s3://b/dvc",
        "http://kfp",
        "http://sink",
    )


def test_loading_settings_creates_nothing(tmp_path: Path) -> None:
    load_settings({"AFFECTOPS_HOME": str(tmp_path / "home")})
    assert not (tmp_path / "home").exists()
