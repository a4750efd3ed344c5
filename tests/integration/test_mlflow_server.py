"""The registry against a real MLflow tracking server process on loopback: SQLite backend, artifacts
proxied by the server into an S3-compatible store (moto in server mode), as on a cluster."""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from affectops.cli import app
from core.settings import load_settings
from models import get_family
from models.hearing_loss.evaluate import evaluate
from pipelines.cluster import load_cluster

pytestmark = pytest.mark.integration

FAMILY = "hearing_loss"
CONFIG = get_family("hearing_loss").train.tiny()
GATES = {"quality": {"f1": 0.0, "f1_vs_champion": 0.05}}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def tracking_server(s3_server, tmp_path: Path, free_port, loopback_process, monkeypatch) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination",
        f"s3://{s3_server.bucket}/mlartifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": s3_server.endpoint_url}
    with loopback_process(command, tmp_path / "mlflow.log", lambda: _healthy(url), env=env, timeout=90):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
        # the client never talks to S3 itself: the server proxies every artifact
        monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
        yield url


def test_register_gate_promote_rollback_and_serve_through_the_server(
    tracking_server: str, s3_server, trained_tiny, tiny_split: Path, tmp_path: Path
) -> None:
    from components.promotion import history, promote, rollback
    from components.registry import CHAMPION, log_and_register
    from serving.core import Predictor

    settings = load_settings()
    assert settings.mlflow_tracking_uri == tracking_server
    path = trained_tiny(CONFIG)
    report = evaluate(get_family(FAMILY).train.load(path), tiny_split)
    first = log_and_register(FAMILY, path, report, tags={"dataset_version": "md5-1"}, settings=settings)
    weaker = log_and_register(FAMILY, path, {**report, "f1": report["f1"] - 0.2}, settings=settings)

    assert promote(FAMILY, first.version, GATES, settings=settings).promoted
    refused = promote(FAMILY, weaker.version, GATES, settings=settings)
    assert not refused.promoted and "below the champion's" in refused.reasons[0]

    # the artifacts went through the server into the bucket, under the run of each version
    keys = [
        obj["Key"]
        for page in s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket)
        for obj in page.get("Contents", [])
    ]
    assert any(key.startswith("mlartifacts/") and key.endswith("evaluation.json") for key in keys)
    assert any(key.endswith("/model.pt") for key in keys)

    # the serving core resolves the alias through the server and downloads the model from S3 via it
    predictor = Predictor.from_uri(FAMILY, f"models:/{FAMILY}@{CHAMPION}", settings)
    assert predictor.model_version == str(first.version)
    outputs = predictor.predict(get_family(FAMILY).serve.example(CONFIG))
    assert 0.0 <= float(np.asarray(outputs["probability"])) <= 1.0

    # `affectops serve deploy` pins the champion's version and maps the proxied artifact URI onto the
    # profile's object store (cluster.yaml mlflow_artifacts), which KServe can read
    out = tmp_path / "isvc.yaml"
    done = CliRunner().invoke(app, ["serve", "deploy", f"{FAMILY}@{CHAMPION}", "--out", str(out)])
    assert done.exit_code == 0, done.output
    isvc = yaml.safe_load(out.read_text())
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["annotations"]["affectops.io/model-ref"] == f"models:/{FAMILY}@{CHAMPION}"
    args = isvc["spec"]["predictor"]["containers"][0]["args"]
    model_uri = args[args.index("--model-uri") + 1]
    assert model_uri.startswith(load_cluster().mlflow_artifacts + "/") and model_uri.endswith("/artifacts")

    forced = promote(FAMILY, weaker.version, GATES, force=True, reason="load test", settings=settings)
    assert forced.forced
    assert rollback(FAMILY, settings=settings).version == first.version
    assert [(e.action, e.version) for e in history(FAMILY, settings=settings)] == [
        ("promote", first.version),
        ("force", weaker.version),
        ("rollback", first.version),
    ]
