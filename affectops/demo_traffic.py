"""The demo after promotion: serve the champion locally, call it with the kserve client, watch it.

The model server (``affectops serve``) logs every inference to the sink (``affectops monitor sink``),
both child processes on loopback. A held-out slice checks the served accuracy; then two windows of
traffic, one drawn like the reference and one from a cohort that is mostly young, are labelled and
reported: drift must show in the second and not in the first.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from affectops.settings import Settings

FAMILY = "hearing_loss"
CONCURRENCY = 8
YOUNG_SHARE_DRIFTED = 0.85


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read() or b"null")
    except (OSError, urllib.error.URLError, ValueError):
        return None


@contextmanager
def _process(args: list[str], log: Path, ready_url: str, timeout: float = 120.0) -> Iterator[None]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "affectops", *args], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        while _get_json(ready_url) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`affectops {' '.join(args)}` did not come up; its log: {log}")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _request(metadata: dict[str, Any], tensors: dict[str, np.ndarray]):
    from kserve import InferInput, InferRequest

    inputs = []
    for name, value in tensors.items():
        infer_input = InferInput(name, list(value.shape), "FP32")
        infer_input.set_data_from_numpy(value, binary_data=True)
        inputs.append(infer_input)
    return InferRequest(FAMILY, inputs, request_id=metadata["request_id"], parameters=metadata)


async def _send(url: str, requests: list[tuple[dict, dict]]) -> list[dict[str, float]]:
    """Every request through kserve's InferenceRESTClient (v2, binary tensors), CONCURRENCY at a time."""
    from kserve import InferenceRESTClient, RESTConfig

    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(metadata: dict, tensors: dict) -> dict[str, float]:
        async with gate:
            response = await client.infer(url, _request(metadata, tensors), model_name=FAMILY)
        return {out.name: float(out.as_numpy().reshape(-1)[0]) for out in response.outputs}

    try:
        return await asyncio.gather(*(one(m, t) for m, t in requests))
    finally:
        await client.close()


def _cohort(settings: Settings, name: str, seed: int, subjects: int) -> Path:
    """A fresh synthetic cohort of the demo's make, split into folds (for its anchors)."""
    import shutil

    from components.split import split_cohort
    from models import get_family

    spec = get_family(FAMILY)
    cohort = settings.home / "datasets" / name
    shutil.rmtree(cohort, ignore_errors=True)
    config = replace(spec.synth_config(), subjects=subjects, session_seconds=(330.0, 390.0), seed=seed)
    spec.synthesize(config, cohort)
    split_cohort(cohort, 5, seed)
    return cohort


def _traffic(cohort: Path, prefix: str, *, young_share: float | None, seed: int) -> tuple[list, pd.DataFrame]:
    """Requests for the cohort's segments and its subjects' labels; with ``young_share``, every young
    subject and just enough whole other subjects that the young are that share of the SUBJECTS (drift
    is judged per subject: monitoring/drift.py)."""
    from models.hearing_loss.data import load_split
    from models.hearing_loss.requests import segment_requests

    frame = load_split(cohort)
    rows = frame
    if young_share is not None:
        subjects = frame.groupby("subject_id")["age_group"].first()
        young = subjects.index[subjects == "young"]
        others = subjects.index[subjects != "young"].to_series().sample(frac=1.0, random_state=seed)
        keep = round(len(young) * (1 - young_share) / young_share)
        rows = frame[frame["subject_id"].isin([*young, *others.iloc[:keep]])]
    labels = rows.groupby("subject_id")["hearing_loss"].max().rename_axis("subject_pseudonym").reset_index()
    labels["subject_pseudonym"] = prefix + labels["subject_pseudonym"]
    return list(segment_requests(cohort, rows, pseudonym_prefix=prefix)), labels


def _wait_stored(sink_url: str, expected: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = _get_json(f"{sink_url}/stats") or {}
        if stats.get("stored", 0) + stats.get("duplicates", 0) >= expected:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the sink stored {stats.get('stored')} of {expected} events within {timeout:.0f} s")


def _drift_line(name: str, result) -> str:
    """The window's verdict is the drift gate's (monitoring.yaml): single columns drift by chance at 5%."""
    overall = result.report["drift"]["overall"]
    drifted = [column for column, value in overall["columns"].items() if value["drifted"]]
    breaches = [
        b.message
        for b in result.breaches
        if b.metric.startswith(("drift_share", "feature_drift", "embedding"))
    ]
    verdict = "DRIFT DETECTED" if breaches else "no drift detected"
    detail = "; ".join(breaches) if breaches else "drift gates passed"
    return f"{name}: {verdict} ({detail}; drifted columns: {', '.join(drifted) or 'none'})"


def serve_and_monitor(settings: Settings, split: Path, holdout_fold: int, *, seed: int, subjects: int) -> int:
    """The serving and monitoring half of the demo; an exit code."""
    from affectops.cli_monitoring import format_result
    from models.hearing_loss.data import load_split
    from models.hearing_loss.requests import segment_requests
    from monitoring.job import report_window
    from monitoring.labels import add_labels
    from monitoring.store import default_root

    sink_port, http_port, grpc_port = _free_port(), _free_port(), _free_port()
    sink_url, url = f"http://127.0.0.1:{sink_port}", f"http://127.0.0.1:{http_port}"
    store = default_root(settings)
    logs = settings.home / "logs"
    sink_args = ["monitor", "sink", "--port", str(sink_port), "--compact-interval", "5"]
    serve_args = ["serve", f"{FAMILY}@champion", "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    with (
        _process(sink_args, logs / "sink.log", f"{sink_url}/healthz"),
        _process([*serve_args, "--log-url", sink_url], logs / "serve.log", f"{url}/v2/models/{FAMILY}/ready"),
    ):
        print(f"serving {FAMILY}@champion on {url} (v2 REST), logging to the sink on {sink_url}")
        frame = load_split(split)
        held_out = frame[frame["fold"] == holdout_fold]
        outputs = asyncio.run(_send(url, list(segment_requests(split, held_out, pseudonym_prefix="demo-"))))
        predicted = np.array([int(out["label"]) for out in outputs])
        accuracy = float((predicted == held_out["hearing_loss"].to_numpy()).mean())
        for (_, segment), out in list(zip(held_out.iterrows(), outputs, strict=True))[:3]:
            print(
                f"  {segment['segment_id']}: p = {out['probability']:.2f}, label {int(out['label'])} "
                f"(truth {int(segment['hearing_loss'])}), "
                f"age estimate {out.get('age_estimate', float('nan')):.0f} (true age {int(segment['age'])})"
            )
        print(f"held-out slice over the kserve client: accuracy {accuracy:.3f} on {len(held_out)} segments")
        sent = len(held_out)
        _wait_stored(sink_url, 2 * sent)  # logged before the first window opens: windows are by log time

        windows = {}
        for name, window_seed, young_share in (
            ("reference-like window", seed + 101, None),
            ("drifted window (mostly young)", seed + 202, YOUNG_SHARE_DRIFTED),
        ):
            cohort = _cohort(settings, f"traffic-{window_seed}", window_seed, subjects)
            requests, labels = _traffic(cohort, f"w{window_seed}-", young_share=young_share, seed=window_seed)
            start = datetime.now(UTC)
            asyncio.run(_send(url, requests))
            sent += len(requests)
            _wait_stored(sink_url, 2 * sent)
            windows[name] = (start, datetime.now(UTC))
            add_labels(labels, store)
            print(f"sent {len(requests)} requests of {labels.shape[0]} subjects as the {name}; labels added")

    print()
    for name, (start, end) in windows.items():
        result = report_window(FAMILY, settings=settings, store_root=store, start=start, end=end)
        print(f"=== {name}")
        print(format_result(result))
        windows[name] = result
    print()
    for name, result in windows.items():
        print(_drift_line(name, result))
    return 0
