"""The expression family's production monitoring, end to end: its champion served with the inference
logger, two windows of traffic through the sink, and `affectops monitor report` on each with the
family's own monitoring config (prediction drift of the class distribution, no age groups)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from affectops.local_services import free_port, running, send, wait_stored
from models import get_family
from models.common.tracking import NullTracker
from models.contract import Request

pytestmark = pytest.mark.e2e

FAMILY = "expression"
SPEC = get_family(FAMILY)
FEATURES = ("mae", "fbank")
TINY = get_family("expression").train.tiny()
UNIFORM = (1.0,) * 8
HAPPY = (1.0, 1.0, 1.0, 1.0, 10.0, 1.0, 1.0, 1.0)  # happiness (class 4) from 1/8 to 10/17 of episodes


def _dataset(root: Path, *, videos: int, seed: int, prior: tuple[float, ...]) -> Path:
    """New videos (and subjects) of the world the model was trained on (``world_seed`` 0)."""
    config = SPEC.data.synth_config(
        videos=videos,
        frames=(200, 300),
        episode_frames=15.0,  # ~17 expressions per video: a video's class mix is not one or two of them
        features=FEATURES,
        class_prior=prior,
        seed=seed,
        world_seed=0,
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
    command = [sys.executable, "-m", "affectops", "monitor", "report", "--model", FAMILY]
    command += ["--start", start.isoformat(), "--end", end.isoformat(), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return done.returncode, done.stdout + done.stderr, report


def test_served_expression_traffic_is_reported_with_the_familys_monitoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.promotion import promote
    from components.reference import reference_frame
    from components.registry import log_and_register
    from core.registry import REFERENCE_ARTIFACT
    from core.settings import load_settings

    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()

    # the champion: trained on 4 folds, its held-out fold (~12 videos) as the monitoring reference
    data = _dataset(tmp_path / "train", videos=60, seed=0, prior=UNIFORM)
    model = SPEC.train.train(TINY, data, NullTracker(), out_dir=tmp_path / "model", holdout=0, device="cpu")
    evaluation = SPEC.evaluate.evaluate(SPEC.train.load(model), data, 0)
    reference = tmp_path / "reference.parquet"
    reference_frame(FAMILY, model, data, 0).to_parquet(reference)
    version = log_and_register(
        FAMILY, model, evaluation, run_name="v1", artifacts={REFERENCE_ARTIFACT: reference}, settings=settings
    )
    assert promote(FAMILY, version.version, SPEC.evaluate.gates, settings=settings).promoted

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
