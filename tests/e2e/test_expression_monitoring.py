"""The expression family's production monitoring, end to end: its champion served with the inference
logger, two windows of traffic through the sink, and `affectops monitor report` on each with the
family's own monitoring config (prediction drift of the class distribution, no age groups).

The champion is the shared pipeline run's (tests/e2e/conftest.py): trained on 4 folds of 60 videos of
world 0, promoted by the family's gate, its held-out fold (~12 videos) registered as the monitoring
reference."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from e2e_support import EXPRESSION_DATA, PipelineRun

from affectops.local_services import free_port, running, send, wait_stored
from components.registry import CHAMPION, list_versions
from models import get_family
from models.contract import Request

pytestmark = pytest.mark.e2e

FAMILY = "expression"
SPEC = get_family(FAMILY)
UNIFORM = (1.0,) * 8
HAPPY = (1.0, 1.0, 1.0, 1.0, 10.0, 1.0, 1.0, 1.0)  # happiness (class 4) from 1/8 to 10/17 of episodes


def _dataset(root: Path, *, videos: int, seed: int, prior: tuple[float, ...]) -> Path:
    """New videos (and subjects) of the world the model was trained on, made like its training data."""
    config = SPEC.data.synth_config(
        **{**EXPRESSION_DATA, "videos": videos, "class_prior": prior, "seed": seed}
    )
    SPEC.data.synthesize(config, root)
    SPEC.data.partitions.split(root, 5, seed)
    return root


def _requests(data: Path, prefix: str) -> list[Request]:
    """Every video of ``data`` as requests (each fold's held-out requests), subjects renamed per window."""
    return [
        replace(request, request_id=prefix + request.request_id, unit=prefix + request.unit)
        for fold in range(5)
        for request in SPEC.monitor.reference_requests(data, fold)
    ]


def _report(start: datetime, end: datetime, out: Path) -> tuple[int, str, dict]:
    """`affectops monitor report` on the window: its exit code, output and report. In this process
    (typer's runner), not a child's: a child spends more on its imports than on the report."""
    from typer.testing import CliRunner

    from affectops.cli import app

    command = ["monitor", "report", "--model", FAMILY, "--start", start.isoformat(), "--end", end.isoformat()]
    done = CliRunner().invoke(app, [*command, "--out", str(out)])
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return done.exit_code, done.output + repr(done.exception), report


def test_served_expression_traffic_is_reported_with_the_familys_monitoring(
    expression_pipeline_run: PipelineRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # serving, the sink, reports and alerts in a home of this test's; the registry is the shared run's
    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", expression_pipeline_run.settings.mlflow_tracking_uri)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(tmp_path)
    (version,) = list_versions(FAMILY, settings=expression_pipeline_run.settings)
    assert CHAMPION in version.aliases, "precondition: the shared run's model cleared the family's gate"

    # Without drift the verdict is a 5% test (a permutation null over subjects): with fixed seeds it is
    # one draw, and this one (distance 0.11 against a chance level of 0.18 when written) sits far enough
    # inside the threshold that float differences between machines cannot flip it
    windows = {
        "same mix": _requests(_dataset(tmp_path / "same", videos=30, seed=3, prior=UNIFORM), "same-"),
        "happier": _requests(_dataset(tmp_path / "happy", videos=30, seed=4, prior=HAPPY), "happy-"),
    }
    sink_port, http_port, grpc_port = free_port(), free_port(), free_port()
    sink, url = f"http://127.0.0.1:{sink_port}", f"http://127.0.0.1:{http_port}"
    serve = ["serve", f"{FAMILY}@champion", "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    spans, sent, shares = {}, 0, {}
    with (
        running(
            ["monitor", "sink", "--port", str(sink_port), "--compact-interval", "1"],
            tmp_path / "sink.log",
            f"{sink}/healthz",
        ),
        running([*serve, "--log-url", sink], tmp_path / "serve.log", f"{url}/v2/models/{FAMILY}/ready"),
    ):
        for name, requests in windows.items():
            start = datetime.now(UTC)
            answers = send(url, FAMILY, requests)
            sent += len(requests)
            wait_stored(sink, 2 * sent)  # request and response events
            spans[name] = (start, datetime.now(UTC))
            for request, answer in zip(requests, answers, strict=True):
                assert answer["probabilities"].shape == (len(request.tensors["mae"]), 8)
            labels = np.concatenate([answer["labels"] for answer in answers])
            shares[name] = np.bincount(labels.astype(int), minlength=8) / len(labels)
    # precondition: the served model predicts happiness more often in the happier window
    assert shares["happier"][4] > shares["same mix"][4] + 0.15

    code, output, same = _report(*spans["same mix"], tmp_path / "report-same")
    assert code == 0, output
    assert "no threshold breached" in output and "age probe" not in output
    overall = same["drift"]["overall"]
    assert list(same["drift"]) == ["overall"]  # no age groups: one scope
    assert overall["unit"] == "subject" and overall["feature_column"] == "fbank_mean+mae_mean"
    assert not overall["columns"]["labels_shares"]["drifted"]
    assert same["fairness"] == {} and same["age_probe"] is None
    assert same["window"]["ok"] == len(windows["same mix"])

    code, output, happy = _report(*spans["happier"], tmp_path / "report-happy")
    assert code == 1, output
    moved = happy["drift"]["overall"]["columns"]["labels_shares"]
    assert moved["drifted"] and moved["score"] >= moved["threshold"]
    assert "ALERT overall: drift_share = 1.000 is above the ceiling 0.5" in output
    rise = {
        k: moved["shares"]["current"][k] - moved["shares"]["reference"][k] for k in moved["shares"]["current"]
    }
    assert max(rise, key=rise.get) == "4"
    alerts = list((tmp_path / "home" / "alerts").glob("*"))
    assert alerts, "a breach writes an alert record"
