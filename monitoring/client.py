"""Build KServe-logger CloudEvents and send them to the sink, retrying until each is acknowledged.

For tests, the demo and the benchmark (the model server posts its own events). At-least-once:
an event is re-sent after a connection error, a timeout or a 5xx until the sink answers 2xx, so a
sink killed mid-load loses nothing; the sink's de-duplication makes the re-sends harmless.
A 4xx is final (the event is malformed) and is reported, not retried.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import numpy as np

from monitoring.events import REQUEST_TYPE, RESPONSE_TYPE
from serving import v2

RETRY_STATUSES = {408, 425, 429}


@dataclass(frozen=True)
class Event:
    headers: dict[str, str]
    body: bytes


@dataclass
class SendReport:
    acked: int = 0
    duplicates: int = 0
    attempts: int = 0
    rejected: list[tuple[int, int, str]] = field(default_factory=list)  # (index, status, answer)
    seconds: float = 0.0


def cloud_event(
    kind: str,
    inference_id: str,
    model_name: str,
    body: bytes,
    content_type: str = "application/json",
    *,
    time_: datetime | None = None,
    extra: Mapping[str, str] | None = None,
) -> Event:
    """A binary content-mode CloudEvent as KServe's agent logger posts it."""
    headers = {
        "Content-Type": content_type,
        "ce-specversion": "1.0",
        "ce-id": inference_id,
        "ce-type": {"request": REQUEST_TYPE, "response": RESPONSE_TYPE}[kind],
        "ce-source": f"http://localhost/{model_name}",
        "ce-inferenceservicename": model_name,
        "ce-namespace": "default",
        "ce-component": "predictor",
        "ce-endpoint": "default",
        "ce-time": (time_ or datetime.now(UTC)).isoformat(),
        **(extra or {}),
    }
    return Event(headers, body)


def request_event(
    inference_id: str,
    model_name: str,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
    *,
    binary: bool = False,
    time_: datetime | None = None,
) -> Event:
    """A logged request: v1 JSON (``instances`` + ``metadata``) or v2 binary (``parameters``)."""
    if not binary:
        body = {"instances": [{k: np.asarray(v).tolist() for k, v in tensors.items()}]}
        if metadata:
            body["metadata"] = dict(metadata)
        return cloud_event("request", inference_id, model_name, json.dumps(body).encode(), time_=time_)
    inputs = []
    for name, value in tensors.items():
        array = np.asarray(value)
        datatype = v2.from_np_dtype(array.dtype)
        if datatype is None:
            raise ValueError(f"{name}: numpy dtype {array.dtype} has no v2 datatype")
        inputs.append(v2.Tensor(name, datatype, array.shape, array))
    document = {"id": inference_id, "parameters": dict(metadata or {})}
    body, length = v2.encode(document, "inputs", inputs, binary=True)
    return cloud_event(
        "request",
        inference_id,
        model_name,
        body,
        "application/octet-stream",
        time_=time_,
        extra={"Inference-Header-Content-Length": str(length)},
    )


def response_event(
    inference_id: str,
    model_name: str,
    model_version: str | None,
    outputs: Mapping[str, Any] | None = None,
    *,
    error: str | None = None,
    time_: datetime | None = None,
) -> Event:
    """A logged v1 response (one prediction), or our server's error response."""
    if error is not None:
        body: dict[str, Any] = {"error": error}
    else:
        prediction = {k: np.asarray(v).tolist() for k, v in (outputs or {}).items()}
        body = {"model_name": model_name, "model_version": model_version, "predictions": [prediction]}
    return cloud_event("response", inference_id, model_name, json.dumps(body).encode(), time_=time_)


async def send_events_async(
    url: str,
    events: Sequence[Event],
    *,
    concurrency: int = 4,
    deadline_s: float = 120.0,
    timeout_s: float = 10.0,
) -> SendReport:
    """Send every event, ``concurrency`` at a time; retries until acked or ``deadline_s`` passes
    (then raises TimeoutError saying how many are unacknowledged)."""
    report = SendReport()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(events)):
        queue.put_nowait(index)
    start = time.monotonic()
    deadline = start + deadline_s
    unacked = set(range(len(events)))

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            event, backoff = events[index], 0.02
            while True:
                report.attempts += 1
                try:
                    async with session.post(url, data=event.body, headers=event.headers) as response:
                        answer = await response.text()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError, OSError):
                    status, answer = 0, ""
                if 200 <= status < 300:
                    report.acked += 1
                    report.duplicates += '"duplicate"' in answer
                    unacked.discard(index)
                    break
                if 400 <= status < 500 and status not in RETRY_STATUSES:
                    report.rejected.append((index, status, answer))
                    unacked.discard(index)
                    break
                if time.monotonic() + backoff > deadline:
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)

    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    report.seconds = time.monotonic() - start
    if unacked:
        raise TimeoutError(
            f"{len(unacked)} of {len(events)} events not acknowledged within {deadline_s:.0f} s"
        )
    return report


def send_events(url: str, events: Sequence[Event], **options: Any) -> SendReport:
    """Blocking ``send_events_async`` (its own event loop; safe to call from a thread)."""
    return asyncio.run(send_events_async(url, events, **options))
