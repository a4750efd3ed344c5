"""The real KServe ModelServer on loopback (v1, v2 JSON, v2 binary), its inference log, and a registry
reference resolved."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

from core.settings import load_settings
from models import get_family
from serving.core import Predictor, content_version

pytestmark = pytest.mark.integration

FAMILY = "hearing_loss"
NAME = "hl"
CONFIG = get_family("hearing_loss").train.tiny()
TENSORS = get_family(FAMILY).serve.example(CONFIG)


@pytest.fixture(scope="module")
def model_path(trained_tiny) -> Path:
    return trained_tiny(CONFIG)


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[str, list]]:
    """A tiny inference-log receiver on loopback: its URL and the (lower-cased headers, body) it got."""
    events: list[tuple[dict[str, str], bytes]] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            events.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/", events
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(
    model_path: Path, sink, tmp_path_factory: pytest.TempPathFactory, loopback_process, free_port
) -> Iterator[str]:
    http_port, grpc_port = free_port(), free_port()
    ports = ["--model-name", NAME, "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    command = [sys.executable, "-m", "serving", "--family", FAMILY, "--model-uri", str(model_path), *ports]
    command += ["--log-url", sink[0]]
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "AFFECTOPS_HOME": str(log.parent / "home"), "OMP_NUM_THREADS": "1"}
    url = f"http://127.0.0.1:{http_port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/v2/models/{NAME}/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    with loopback_process(command, log, ready, env=env):
        yield url


def _v2_request(tensors: dict[str, np.ndarray], binary: bool) -> InferRequest:
    inputs = []
    for name, value in tensors.items():
        infer_input = InferInput(name, list(value.shape), "FP32")
        infer_input.set_data_from_numpy(value, binary_data=binary)
        inputs.append(infer_input)
    return InferRequest(model_name=NAME, infer_inputs=inputs, request_id="r-1")


def _infer(url: str, protocol: str, data):
    async def call():
        client = InferenceRESTClient(RESTConfig(protocol=protocol, timeout=30))
        try:
            return await client.infer(url, data, model_name=NAME)
        finally:
            await client.close()

    return asyncio.run(call())


def _check(outputs: dict, version: str) -> None:
    assert 0.0 <= float(np.asarray(outputs["probability"]).reshape(-1)[0]) <= 1.0
    assert {"label", "threshold", "age_estimate"} <= set(outputs)
    assert version.startswith("sha256-")


def test_health_and_metadata(server: str, model_path: Path) -> None:
    assert httpx.get(f"{server}/v2/health/live").status_code == 200
    assert httpx.get(f"{server}/v1/models/{NAME}").json()["ready"] is True


@pytest.mark.parametrize("binary", [False, True], ids=["v2-json", "v2-binary"])
def test_v2_with_the_kserve_client(server: str, model_path: Path, binary: bool) -> None:
    response = _infer(server, "v2", _v2_request(TENSORS, binary))
    _check({out.name: out.as_numpy() for out in response.outputs}, content_version(model_path))
    # the kserve client's InferResponse.from_bytes drops model_version, so read the JSON header raw
    body, json_length = _v2_request(TENSORS, binary).to_rest()
    headers = {"content-type": "application/json"}
    if json_length:
        headers = {
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(json_length),
        }
    raw = httpx.post(
        f"{server}/v2/models/{NAME}/infer",
        content=body if json_length else json.dumps(body),
        headers=headers,
        timeout=30,
    )
    assert raw.status_code == 200, raw.text
    header_length = int(raw.headers.get("inference-header-content-length", len(raw.content)))
    assert json.loads(raw.content[:header_length])["model_version"] == content_version(model_path)


def test_v1_with_the_kserve_client_passes_metadata_through(server: str, model_path: Path) -> None:
    metadata = {"request_id": "r-2", "subject_pseudonym": "s9", "age": 70, "gender": "m"}
    body = {"instances": [{k: v.tolist() for k, v in TENSORS.items()}], "metadata": metadata}
    response = _infer(server, "v1", body)
    assert response["model_version"] == content_version(model_path)
    assert response["metadata"] == metadata
    _check(response["predictions"][0], response["model_version"])


def _events_for(events: list, inference_id: str, timeout: float = 10.0) -> dict[str, tuple[dict, bytes]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {
            h["ce-type"].rsplit(".", 1)[1]: (h, b) for h, b in list(events) if h["ce-id"] == inference_id
        }
        if len(found) == 2:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no request + response events for {inference_id} within {timeout} s: {found}")


def test_inference_log_gets_request_and_response_as_cloudevents(server: str, sink, model_path: Path) -> None:
    body, json_length = _v2_request(TENSORS, binary=True).to_rest()
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(json_length),
        "ce-id": "inference-1",
    }
    assert httpx.post(f"{server}/v2/models/{NAME}/infer", content=body, headers=headers).status_code == 200
    events = _events_for(sink[1], "inference-1")
    request_headers, request_body = events["request"]
    response_headers, response_body = events["response"]
    for event in (request_headers, response_headers):
        assert event["ce-specversion"] == "1.0"
        assert event["ce-inferenceservicename"] == NAME
        assert event["ce-source"].startswith("http://127.0.0.1:")
        assert {"ce-namespace", "ce-component", "ce-endpoint", "ce-time"} <= set(event)
        assert event["content-type"] == "application/json"
    assert request_headers["ce-type"] == "org.kubeflow.serving.inference.request"
    assert response_headers["ce-type"] == "org.kubeflow.serving.inference.response"
    # the binary tensors arrive as v2 JSON, exactly the values sent
    logged = {t["name"]: t for t in json.loads(request_body)["inputs"]}
    np.testing.assert_array_equal(
        np.asarray(logged["current"]["data"], np.float32).reshape(logged["current"]["shape"]),
        TENSORS["current"],
    )
    assert json.loads(response_body)["model_version"] == content_version(model_path)


def test_inference_log_keeps_error_responses(server: str, sink) -> None:
    bad = {"instances": [{"current": [[0.0] * 3]}]}
    response = httpx.post(f"{server}/v1/models/{NAME}:predict", json=bad, headers={"ce-id": "bad-1"})
    assert response.status_code == 400
    events = _events_for(sink[1], "bad-1")
    assert events["response"][0]["ce-statuscode"] == "400"
    assert json.loads(events["response"][1])["error"] == response.json()["error"]
    assert json.loads(events["request"][1]) == bad


def test_registry_reference_resolves_to_the_registered_version(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.registry import log_and_register

    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    info = log_and_register(FAMILY, model_path, {"f1": 0.5}, settings=settings)
    for uri in (f"models:/{FAMILY}@challenger", f"models:/{FAMILY}/{info.version}"):
        predictor = Predictor.from_uri(FAMILY, uri, settings)
        assert predictor.model_version == str(info.version)
        assert 0.0 <= float(predictor.predict(TENSORS)["probability"]) <= 1.0
    with pytest.raises(ValueError, match="champion"):
        Predictor.from_uri(FAMILY, f"models:/{FAMILY}@champion", settings)


def test_concurrent_requests_batched_each_answer_and_log_its_own(server: str, sink, model_path: Path) -> None:
    """Mixed-length v2 binary requests sent together (the server batches them by default): each answer
    is the in-process unbatched one and carries its own id and metadata, in the response and in the
    inference log; a malformed one among them gets its 400 alone."""
    predictor = Predictor.from_uri(FAMILY, model_path, load_settings({}))
    frames = (150, 9, 240, 1, 75)
    examples = [get_family(FAMILY).serve.example(CONFIG, seed=i, frames=n) for i, n in enumerate(frames)]

    def body(tensors: dict, i: int) -> tuple[bytes, dict]:
        request = _v2_request(tensors, binary=True)
        request.id = f"batch-{i}"
        request.parameters = {"request_id": f"batch-{i}", "subject_pseudonym": f"s{i}", "age": 30 + i}
        content, json_length = request.to_rest()
        headers = {
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(json_length),
        }
        return content, {**headers, "ce-id": f"log-batch-{i}"}

    bodies = [body(t, i) for i, t in enumerate(examples)]
    bad = {**examples[1], "anchor": examples[1]["anchor"][:, :10]}
    bodies.insert(2, body(bad, 99))

    async def together():
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:
            url = f"/v2/models/{NAME}/infer"
            return await asyncio.gather(*(client.post(url, content=c, headers=h) for c, h in bodies))

    responses = asyncio.run(together())
    bad_response = responses.pop(2)
    assert bad_response.status_code == 400 and "anchor: dim 1 must be" in bad_response.json()["error"]
    for i, (response, tensors) in enumerate(zip(responses, examples, strict=True)):
        assert response.status_code == 200, response.text
        document = json.loads(response.content)  # binary_data_output unset: JSON outputs
        assert document["id"] == f"batch-{i}"
        assert document["parameters"] == {
            "request_id": f"batch-{i}",
            "subject_pseudonym": f"s{i}",
            "age": 30 + i,
        }
        outputs = {out["name"]: out["data"][0] for out in document["outputs"]}
        for name, value in predictor.predict(tensors).items():
            assert outputs[name] == pytest.approx(float(value), rel=1e-5, abs=1e-6)
        logged = _events_for(sink[1], f"log-batch-{i}")
        assert json.loads(logged["request"][1])["parameters"]["subject_pseudonym"] == f"s{i}"
        assert json.loads(logged["response"][1])["id"] == f"batch-{i}"
    assert _events_for(sink[1], "log-batch-99")["response"][0]["ce-statuscode"] == "400"
