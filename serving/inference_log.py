"""A local stand-in for the KServe agent's inference logger (``logger: mode: all`` on a cluster).

On a cluster the agent sidecar posts every request and its response to the sink as two CloudEvents in
binary content mode; a local ModelServer has no sidecar, so ``serve(..., log_url=...)`` adds this
middleware and sender instead. The events carry the agent's attributes: ``ce-id`` (the request's
``ce-id`` header or a fresh UUID, the same for both events), ``ce-type``
``org.kubeflow.serving.inference.request`` / ``.response``, ``ce-source``, and the extensions
``inferenceservicename``, ``namespace``, ``component``, ``endpoint`` and ``metadata``.

Two differences, both for the sink: error responses (4xx, 5xx) are logged too, with kserve's
``{"error": message}`` body (the agent drops them), and every event carries the extension
``statuscode``; bodies of the v2 binary tensor extension are rewritten as v2 JSON so that the sink
reads one format.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from serving.v2 import HEADER_LENGTH, V2Error, to_json

log = logging.getLogger(__name__)

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
_LOGGED_PATHS = re.compile(r"^/v1/models/[^/]+:predict$|^/v2/models/[^/]+(?:/versions/[^/]+)?/infer$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


@dataclass(frozen=True)
class Exchange:
    """One request and its response as they crossed the wire."""

    inference_id: str
    request: bytes
    request_header_length: str | None  # the binary extension's JSON header size, if used
    status: int
    response: bytes
    response_header_length: str | None


@dataclass(frozen=True)
class Source:
    """Who is logging: the agent's ``ce-source`` and its extension attributes."""

    url: str
    inference_service: str
    namespace: str = "default"
    component: str = "predictor"
    endpoint: str = "default"


class InferenceLogger:
    """Posts each ``Exchange`` as two CloudEvents from a background thread.

    ``log`` never blocks: a full queue drops the exchange and counts it in ``dropped``. A failed post
    (connection error or 5xx) is retried ``retries`` times with doubling backoff, then counted in
    ``failed``; a 4xx from the sink is not retried.
    """

    def __init__(
        self,
        url: str,
        source: Source,
        *,
        max_queue: int = 1000,
        retries: int = 3,
        backoff_s: float = 0.1,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.source = source
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.sent = self.dropped = self.failed = 0
        self._queue: queue.Queue[Exchange] = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def log(self, exchange: Exchange) -> bool:
        """Queue ``exchange``; False (and one more ``dropped``) when the queue is full."""
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference-logger", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (for at most ``timeout_s``), then stop the thread."""
        deadline = time.monotonic() + timeout_s
        while self._thread and self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()) + 1.0)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                try:
                    exchange = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    for headers, body in self.events(exchange):
                        self._post(client, headers, body)
                except Exception:  # a logging failure must never take the sender thread down
                    log.exception("inference log: could not send %s", exchange.inference_id)
                    self.failed += 1
                finally:
                    self._queue.task_done()

    def events(self, exchange: Exchange) -> list[tuple[dict[str, str], bytes]]:
        """The request and response CloudEvents (binary content mode: attributes as ``ce-`` headers)."""
        now = datetime.now(UTC).isoformat()
        common = {
            "ce-specversion": "1.0",
            "ce-id": exchange.inference_id,
            "ce-source": self.source.url,
            "ce-time": now,
            "ce-inferenceservicename": self.source.inference_service,
            "ce-namespace": self.source.namespace,
            "ce-component": self.source.component,
            "ce-endpoint": self.source.endpoint,
            "ce-metadata": "{}",  # the agent's forwarded request headers; none are configured locally
            "ce-statuscode": str(exchange.status),
        }
        request_body, request_type = as_json(exchange.request, exchange.request_header_length)
        response_body, response_type = as_json(exchange.response, exchange.response_header_length)
        return [
            ({**common, "ce-type": REQUEST_TYPE, "content-type": request_type}, request_body),
            ({**common, "ce-type": RESPONSE_TYPE, "content-type": response_type}, response_body),
        ]

    def _post(self, client: httpx.Client, headers: dict[str, str], body: bytes) -> None:
        for attempt in range(self.retries + 1):
            try:
                response = client.post(self.url, headers=headers, content=body)
            except httpx.TransportError as err:
                problem = str(err)
            else:
                if response.status_code < 300:
                    self.sent += 1
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    break  # the sink refused the event; sending it again would not change that
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        log.warning(
            "inference log: %s of %s not delivered: %s", headers["ce-type"], headers["ce-id"], problem
        )
        self.failed += 1


def as_json(body: bytes, header_length: str | None) -> tuple[bytes, str]:
    """A v2 binary-extension body rewritten as v2 JSON; any other body as it came.

    A body that does not decode (a malformed request, logged with its 4xx) is kept as raw bytes.
    """
    if header_length is None:
        return body, "application/json"
    try:
        return to_json(body, header_length), "application/json"
    except V2Error:
        return body, "application/octet-stream"


class InferenceLogMiddleware:
    """ASGI middleware that hands every inference request and its response to an ``InferenceLogger``.

    It keeps the chunks as they pass and queues them after the response is sent, so logging adds no
    wait to a request.
    """

    def __init__(self, app: ASGIApp, inference_logger: InferenceLogger) -> None:
        self.app = app
        self.logger = inference_logger

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _LOGGED_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        request: list[bytes] = []
        response: list[bytes] = []
        started: dict[str, Any] = {}

        async def receive_logged() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request.append(message.get("body", b""))
            return message

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["status"] = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == HEADER_LENGTH.encode():
                        started["header_length"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                response.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_logged, send_logged)
        finally:
            if "status" in started:
                self.logger.log(
                    Exchange(
                        inference_id=headers.get("ce-id") or str(uuid.uuid4()),
                        request=b"".join(request),
                        request_header_length=headers.get(HEADER_LENGTH),
                        status=started["status"],
                        response=b"".join(response),
                        response_header_length=started.get("header_length"),
                    )
                )
