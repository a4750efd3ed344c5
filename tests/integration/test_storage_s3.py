"""Cohorts addressed by s3:// URIs, against a real S3-compatible server (moto) on loopback."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from affectops.cli import app
from core.settings import load_settings
from core.storage import materialize, upload_dir

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AFFECTOPS_S3_ENDPOINT_URL", s3_server.endpoint_url)
    return load_settings()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_cohort_round_trips_through_s3(tiny_cohort: Path, s3_server, settings) -> None:
    uri = f"s3://{s3_server.bucket}/cohorts/tiny"
    assert upload_dir(tiny_cohort, uri, settings) == len(_files(tiny_cohort))
    local = materialize(uri, settings)
    assert local.is_relative_to(settings.cache_dir)
    assert _files(local) == _files(tiny_cohort)


def test_cli_validates_and_summarizes_an_s3_cohort(tiny_cohort: Path, s3_server, settings) -> None:
    uri = f"s3://{s3_server.bucket}/cohorts/tiny"
    upload_dir(tiny_cohort, uri, settings)
    runner = CliRunner()
    result = runner.invoke(app, ["data", "validate", uri])
    assert result.exit_code == 0, result.output
    assert "10 subjects" in runner.invoke(app, ["data", "summary", uri]).output


def test_a_missing_prefix_is_a_clear_error(s3_server, settings) -> None:
    with pytest.raises(FileNotFoundError, match=f"no objects under s3://{s3_server.bucket}/nothing"):
        materialize(f"s3://{s3_server.bucket}/nothing", settings)
