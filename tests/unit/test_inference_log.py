"""The local inference logger against a tiny HTTP receiver: CloudEvents, retries, drops."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from serving.inference_log import REQUEST_TYPE, RESPONSE_TYPE, Exchange, InferenceLogger, Source

pytestmark = pytest.mark.unit

SOURCE = Source(url="http://127.0.0.1:8080/", inference_service="hl")


@dataclass
class Receiver:
    url: str
    fail_first: list[int]  # answer this status to the first posts, then 200
    posts: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)

    def delivered(self) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for status, headers, body in self.posts if status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", fail_first=[])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with lock:
                status = state.fail_first.pop(0) if state.fail_first else 200
                state.posts.append((status, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{httpd.server_port}/"
    yield state
    httpd.shutdown()


@pytest.fixture
def free_tcp_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exchange(inference_id: str = "id-1", status: int = 200) -> Exchange:
    return Exchange(inference_id, b'{"instances": []}', None, status, b'{"predictions": []}', None)


def test_events_are_binary_mode_cloudevents_with_one_id() -> None:
    (request_headers, request_body), (response_headers, response_body) = InferenceLogger(
        "http://unused", SOURCE
    ).events(_exchange(status=400))
    for headers in (request_headers, response_headers):
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-id"] == "id-1"
        assert headers["ce-source"] == SOURCE.url
        assert headers["ce-inferenceservicename"] == "hl"
        assert (headers["ce-namespace"], headers["ce-component"], headers["ce-endpoint"]) == (
            "default",
            "predictor",
            "default",
        )
        assert headers["ce-statuscode"] == "400"
        assert headers["content-type"] == "application/json"
    assert (request_headers["ce-type"], response_headers["ce-type"]) == (REQUEST_TYPE, RESPONSE_TYPE)
    assert (request_body, response_body) == (b'{"instances": []}', b'{"predictions": []}')


def test_binary_tensors_are_logged_as_v2_json() -> None:
    tensor = np.arange(6, dtype=np.float32).reshape(2, 3)
    header = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 24}}
            ]
        }
    ).encode()
    exchange = Exchange("id-2", header + tensor.tobytes(), str(len(header)), 200, b"{}", None)
    (headers, body), _ = InferenceLogger("http://unused", SOURCE).events(exchange)
    logged = json.loads(body)["inputs"][0]
    assert logged["data"] == tensor.ravel().tolist()
    assert "binary_data_size" not in logged["parameters"]
    assert headers["content-type"] == "application/json"
    # a binary body that does not decode is kept as it came
    broken = Exchange("id-3", b"\xff" * 10, "4", 400, b'{"error": "x"}', None)
    (headers, body), _ = InferenceLogger("http://unused", SOURCE).events(broken)
    assert (headers["content-type"], body) == ("application/octet-stream", b"\xff" * 10)


def test_failed_posts_are_retried_with_backoff(receiver: Receiver) -> None:
    receiver.fail_first = [503, 503]
    logger = InferenceLogger(receiver.url, SOURCE, retries=3, backoff_s=0.01)
    logger.start()
    assert logger.log(_exchange("id-4"))
    logger.close()
    assert [status for status, _, _ in receiver.posts] == [503, 503, 200, 200]
    delivered = [headers["ce-type"] for headers, _ in receiver.delivered()]
    assert delivered == [REQUEST_TYPE, RESPONSE_TYPE]
    assert (logger.sent, logger.failed) == (2, 0)


def test_a_sink_refusal_is_not_retried_and_counts_as_failed(receiver: Receiver) -> None:
    receiver.fail_first = [400, 400]
    logger = InferenceLogger(receiver.url, SOURCE, retries=3, backoff_s=0.01)
    logger.start()
    logger.log(_exchange("id-5"))
    logger.close()
    assert len(receiver.posts) == 2
    assert (logger.sent, logger.failed) == (0, 2)


def test_an_unreachable_sink_fails_after_the_retries(free_tcp_port: int) -> None:
    logger = InferenceLogger(f"http://127.0.0.1:{free_tcp_port}/", SOURCE, retries=2, backoff_s=0.01)
    logger.start()
    logger.log(_exchange("id-6"))
    logger.close()
    assert (logger.sent, logger.failed) == (0, 2)


def test_a_full_queue_drops_and_counts_instead_of_blocking(receiver: Receiver) -> None:
    logger = InferenceLogger(receiver.url, SOURCE, max_queue=2)
    assert [logger.log(_exchange(f"id-{i}")) for i in range(3)] == [True, True, False]
    assert logger.dropped == 1
    logger.start()  # what was queued is still delivered
    logger.close()
    assert sorted({headers["ce-id"] for headers, _ in receiver.delivered()}) == ["id-0", "id-1"]
    assert logger.sent == 4
