"""The platform's services as local child processes on loopback, and a v2 client for the served model:
what the demo and the end-to-end tests run (``affectops serve``, ``affectops monitor sink``)."""

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
from pathlib import Path
from typing import Any

import numpy as np

from models.contract import Request

CONCURRENCY = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> Any:
    """The JSON at ``url``, or None when nothing answers (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read() or b"null")
    except (OSError, urllib.error.URLError, ValueError):
        return None


@contextmanager
def running(args: list[str], log: Path, ready_url: str, timeout: float = 120.0) -> Iterator[None]:
    """``affectops <args>`` as a child process, its output in ``log``, until ``ready_url`` answers;
    terminated on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "affectops", *args], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        while get_json(ready_url) is None:
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


def wait_stored(sink_url: str, expected: int, timeout: float = 120.0) -> None:
    """Wait until the sink has stored (or deduplicated) ``expected`` events."""
    deadline = time.monotonic() + timeout
    stats: dict = {}
    while time.monotonic() < deadline:
        stats = get_json(f"{sink_url}/stats") or {}
        if stats.get("stored", 0) + stats.get("duplicates", 0) >= expected:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the sink stored {stats.get('stored')} of {expected} events within {timeout:.0f} s")


def _request(model: str, request: Request):
    from kserve import InferInput, InferRequest

    inputs = []
    for name, value in request.tensors.items():
        infer_input = InferInput(name, list(value.shape), "FP32")
        infer_input.set_data_from_numpy(np.ascontiguousarray(value), binary_data=True)
        inputs.append(infer_input)
    return InferRequest(model, inputs, request_id=request.request_id, parameters=request.parameters())


def send(url: str, model: str, requests: list[Request]) -> list[dict[str, np.ndarray]]:
    """Every request to ``model`` through kserve's InferenceRESTClient (v2, binary tensors, its metadata
    as parameters), ``CONCURRENCY`` at a time; each response's outputs by name, in request order."""
    from kserve import InferenceRESTClient, RESTConfig

    async def all_of_them() -> list[dict[str, np.ndarray]]:
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(request: Request) -> dict[str, np.ndarray]:
            async with gate:
                response = await client.infer(url, _request(model, request), model_name=model)
            return {out.name: out.as_numpy() for out in response.outputs}

        try:
            return await asyncio.gather(*(one(request) for request in requests))
        finally:
            await client.close()

    return asyncio.run(all_of_them())
