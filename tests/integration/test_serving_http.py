"""The real KServe ModelServer on loopback (v1, v2 JSON, v2 binary) and a registry reference resolved."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

from affectops.settings import load_settings
from models import get_family
from models.hearing_loss.model import HearingLossConfig
from serving.core import Predictor, content_version

pytestmark = pytest.mark.integration

FAMILY = "hearing_loss"
NAME = "hl"
CONFIG = HearingLossConfig(
    variant="marlin_vm_abm", gru_hidden=8, classifier_hidden=4, age_hidden=4, epochs=1, vm_epochs=1
)
TENSORS = get_family(FAMILY).example_input(CONFIG)


@pytest.fixture(scope="module")
def model_path(trained_tiny) -> Path:
    return trained_tiny(CONFIG)


@pytest.fixture(scope="module")
def server(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory, loopback_process, free_port
) -> Iterator[str]:
    http_port, grpc_port = free_port(), free_port()
    ports = ["--model-name", NAME, "--http_port", str(http_port), "--grpc_port", str(grpc_port)]
    command = [sys.executable, "-m", "serving", "--family", FAMILY, "--model-uri", str(model_path), *ports]
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


def _v2_json(tensors: dict) -> dict:
    return {
        "inputs": [
            {"name": k, "shape": list(np.shape(v)), "datatype": "FP32", "data": np.ravel(v).tolist()}
            for k, v in tensors.items()
        ]
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("v2", b'{"inputs": [', "json"),  # refused by FastAPI's body validation (422)
        ("v1", b'{"instances": [', "request format"),
        ("v2", {**TENSORS, "anchor": TENSORS["anchor"][:, :7]}, "anchor"),
        ("v2", {**TENSORS, "current": np.full((5, 384), np.nan, np.float32)}, "current"),
        ("v2", {"current": TENSORS["current"]}, "anchor"),
        # v1 bodies are parsed by orjson, which refuses the NaN literal before the model sees it
        ("v1", {"current": [[1.0] * 384], "anchor": [[float("nan")] * 384]}, "request format"),
        ("v1", {"current": TENSORS["current"][:, :3].tolist(), "anchor": [[0.0] * 384]}, "current"),
    ],
    ids=["v2-malformed-json", "v1-malformed-json", "v2-shape", "v2-nan", "v2-missing", "v1-nan", "v1-shape"],
)
def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_keeps_serving(
    server: str, path: str, body, field: str
) -> None:
    if isinstance(body, dict) and path == "v2":
        content = json.dumps(_v2_json(body)).encode()  # NaN as the NaN literal, as numpy-minded clients send
    elif isinstance(body, dict):
        content = json.dumps({"instances": [body]}).encode()
    else:
        content = body
    url = f"{server}/v2/models/{NAME}/infer" if path == "v2" else f"{server}/v1/models/{NAME}:predict"
    response = httpx.post(url, content=content, headers={"content-type": "application/json"}, timeout=30)
    assert 400 <= response.status_code < 500, response.text
    assert field in response.text.lower(), response.text
    assert httpx.get(f"{server}/v2/models/{NAME}/ready").status_code == 200
    again = _infer(server, "v2", _v2_request(TENSORS, binary=True))
    assert again.outputs


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
