"""The sink as a real process on loopback: events in and stored, bad events counted, SIGKILL mid-load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from core.settings import load_settings
from monitoring.client import SendReport, cloud_event, request_event, response_event, send_events
from monitoring.events import parse_event
from monitoring.labels import read_labels
from monitoring.store import InferenceStore, Journal, encode_line

pytestmark = pytest.mark.integration


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def _ready(url: str) -> bool:
    try:
        return _get(f"{url}/healthz")["ok"]
    except OSError:
        return False


@pytest.fixture
def start_sink(tmp_path: Path, free_port):
    """``start_sink(store) -> (process, url)``; processes left running are killed at teardown."""
    started: list[subprocess.Popen] = []
    port = free_port()

    def start(store: Path) -> tuple[subprocess.Popen, str]:
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "monitoring.sink", "--store", str(store), "--port", str(port)]
        log = (tmp_path / f"sink-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        started.append(process)
        deadline = time.monotonic() + 30
        while not _ready(url):
            assert process.poll() is None, (tmp_path / f"sink-{len(started) - 1}.log").read_text()
            assert time.monotonic() < deadline, "sink not ready in 30 s"
            time.sleep(0.05)
        return process, url

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def _inference(index: int, model: str = "hl", binary: bool = False):
    tensors = {"current": np.full((4, 3), index, dtype=np.float32)}
    meta = {"subject_pseudonym": f"s{index % 50}", "age": 20 + index % 60}
    outputs = {"probability": (index % 100) / 100, "label": index % 2, "threshold": 0.5}
    return [
        request_event(f"inf-{index}", model, tensors, meta, binary=binary),
        response_event(f"inf-{index}", model, "1", outputs),
    ]


def test_events_in_records_out_and_malformed_counted(tmp_path: Path, start_sink) -> None:
    store = tmp_path / "store"
    _, url = start_sink(store)
    good = [e for i in range(10) for e in _inference(i, binary=i % 2 == 1)]
    error = response_event("inf-err", "hl", "1", error="current: must have 2 dims")
    bad = [
        cloud_event("request", "bad-1", "hl", b"{oops"),
        cloud_event("request", "bad-2", "hl", b'{"instances": []}'),
        cloud_event("request", "", "hl", b"{}"),
    ]
    report = send_events(url, [*good[:7], *bad, error, *good[7:]], concurrency=4)
    assert report.acked == 21 and [status for _, status, _ in report.rejected] == [400, 400, 400]
    assert "not valid JSON" in report.rejected[0][2] and "instances" in report.rejected[1][2]
    stats = _get(f"{url}/stats")
    assert stats["received"] == 24 and stats["stored"] == 21 and stats["duplicates"] == 0
    assert stats["rejected"] == {"bad_json": 1, "bad_body": 1, "missing_attribute": 1}
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        assert 'affectops_sink_rejected_total{reason="bad_json"} 1' in answer.read().decode()

    frame = InferenceStore(store).read("hl")
    assert len(frame) == 11 and frame["inference_id"].is_unique
    assert frame.set_index("inference_id").loc["inf-err", "status"] == "error"
    ok = frame[frame["status"] == "ok"].set_index("inference_id")
    assert ok.loc["inf-3", "current_mean"].tolist() == [3.0, 3.0, 3.0] and ok.loc["inf-3", "age"] == 23

    labels = json.dumps(
        [{"subject_pseudonym": "s1", "hearing_loss": 1}, {"subject_pseudonym": "s2", "hearing_loss": 0}]
    )
    post = urllib.request.Request(f"{url}/labels", labels.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(post, timeout=5) as answer:
        assert json.loads(answer.read()) == {"added": 2}
    bad_labels = urllib.request.Request(f"{url}/labels", b'[{"subject_pseudonym": "s1", "hearing_loss": 3}]')
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad_labels, timeout=5)
    assert refused.value.code == 400 and "must be 0 or 1" in refused.value.read().decode()
    assert read_labels(store)["subject_pseudonym"].tolist() == ["s1", "s2"]


def test_sigkill_mid_load_loses_nothing_and_stores_nothing_twice(tmp_path: Path, start_sink) -> None:
    store = tmp_path / "store"
    events = [e for i in range(1000) for e in _inference(i, binary=i % 3 == 0)]
    process, url = start_sink(store)
    result: dict[str, SendReport | BaseException] = {}

    def load() -> None:
        try:
            result["report"] = send_events(url, events, concurrency=8, deadline_s=90)
        except BaseException as err:  # reported by the main thread
            result["report"] = err

    sender = threading.Thread(target=load)
    sender.start()
    deadline = time.monotonic() + 60
    while _get(f"{url}/stats")["stored"] < 600:
        assert time.monotonic() < deadline and sender.is_alive(), "load did not get going"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.3)  # the client meets a dead port for a while and keeps retrying
    _, url = start_sink(store)
    sender.join(timeout=90)
    report = result["report"]
    assert isinstance(report, SendReport), report
    assert report.acked == len(events) and not report.rejected
    assert report.attempts > report.acked  # the kill did land mid-load: some sends were retried

    # a late re-delivery of already acknowledged events is acknowledged, not stored again
    again = send_events(url, events[:20], concurrency=2)
    assert again.duplicates == 20
    journal = [h.key for h in InferenceStore(store).halves()]
    assert len(journal) == len(set(journal)) == len(events)  # each event stored exactly once
    frame = InferenceStore(store).read("hl")
    assert len(frame) == 1000 and frame["inference_id"].is_unique and set(frame["status"]) == {"ok"}


def test_compacted_partitions_go_to_s3_and_read_back(tmp_path: Path, s3_server, monkeypatch) -> None:
    monkeypatch.setenv("AFFECTOPS_S3_ENDPOINT_URL", s3_server.endpoint_url)
    settings = load_settings()
    remote = f"s3://{s3_server.bucket}/inference-log"
    journal = Journal(tmp_path / "sink")
    for i in range(5):
        journal.append(
            b"".join(encode_line(h) for e in _inference(i) for h in parse_event(e.headers, e.body))
        )
    journal.rotate()
    assert InferenceStore(tmp_path / "sink", remote=remote, settings=settings).compact(journal) == 5
    journal.close()
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_server.bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("inference-log/data/model_name=hl/date=")
    elsewhere = InferenceStore(tmp_path / "reader", remote=remote, settings=settings)
    frame = elsewhere.read("hl")
    assert frame["inference_id"].tolist() == [f"inf-{i}" for i in range(5)] and elsewhere.models() == ["hl"]
