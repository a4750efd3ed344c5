"""The same ModelServer over Open Inference Protocol v2 gRPC with kserve's InferenceGRPCClient."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferInput, InferRequest

from models import get_family
from serving.core import content_version

pytestmark = pytest.mark.integration

FAMILY, NAME = "hearing_loss", "hl"
CONFIG = get_family("hearing_loss").train.tiny()
TENSORS = get_family(FAMILY).serve.example(CONFIG, frames=20)


@pytest.fixture(scope="module")
def model_path(trained_tiny) -> Path:
    return trained_tiny(CONFIG)


@pytest.fixture(scope="module")
def grpc_url(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory, loopback_process, free_port
) -> Iterator[str]:
    http_port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "serving", "--family", FAMILY, "--model-uri", str(model_path)]
    command += ["--model-name", NAME, "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "AFFECTOPS_HOME": str(log.parent / "home"), "OMP_NUM_THREADS": "1"}

    def ready() -> bool:
        try:
            return (
                httpx.get(f"http://127.0.0.1:{http_port}/v2/models/{NAME}/ready", timeout=1).status_code
                == 200
            )
        except httpx.TransportError:
            return False

    with loopback_process(command, log, ready, env=env):
        yield f"127.0.0.1:{grpc_port}"


def _request(tensors: dict[str, np.ndarray], datatype: str = "FP32") -> InferRequest:
    inputs = []
    for name, value in tensors.items():
        infer_input = InferInput(name, list(value.shape), datatype)
        infer_input.set_data_from_numpy(value, binary_data=True)  # raw_input_contents, as clients send
        inputs.append(infer_input)
    return InferRequest(model_name=NAME, infer_inputs=inputs, request_id="g-1", parameters={"age": 70})


def _infer(url: str, request: InferRequest):
    async def call():
        client = InferenceGRPCClient(url, timeout=30)
        try:
            return await client.infer(request)
        finally:
            await client.close()

    return asyncio.run(call())


def test_v2_grpc_answers_with_outputs_and_the_model_version(grpc_url: str, model_path: Path) -> None:
    response = _infer(grpc_url, _request(TENSORS))
    outputs = {output.name: output.as_numpy() for output in response.outputs}
    assert 0.0 <= float(outputs["probability"].reshape(-1)[0]) <= 1.0
    assert {"label", "threshold", "age_estimate"} <= set(outputs)
    assert response.model_version == content_version(model_path)
    assert response.id == "g-1"


def test_v2_grpc_bad_request_is_invalid_argument_naming_the_field(grpc_url: str) -> None:
    bad = {**TENSORS, "anchor": TENSORS["anchor"][:, :5].copy()}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        _infer(grpc_url, _request(bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "anchor: dim 1 must be 384" in caught.value.details()
    # and the server keeps serving
    assert _infer(grpc_url, _request(TENSORS)).outputs
