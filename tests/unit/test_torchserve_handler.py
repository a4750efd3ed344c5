"""The TorchServe handler as its own v2 envelope, in process with TorchServe's own Context: one batch of
mixed requests (JSON, binary, malformed) in one call, as TorchServe's batching hands it over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from ts.context import Context, RequestProcessor

from models import get_family
from serving import v2
from serving.torchserve.handler import DECODE_SWITCH, FamilyHandler
from serving.torchserve.package import SERVING_FILE

pytestmark = pytest.mark.unit

FAMILY = "hearing_loss"
SPEC = get_family(FAMILY)
CONFIG = SPEC.train.tiny()


@pytest.fixture(scope="module")
def model_dir(trained_tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What TorchServe unpacks a .mar built by ``serve package`` into."""
    directory = tmp_path_factory.mktemp("mar")
    shutil.copy(trained_tiny(CONFIG), directory / "model.pt")
    (directory / SERVING_FILE).write_text(json.dumps({"family": FAMILY}))
    return directory


@pytest.fixture
def handler(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[FamilyHandler, Context]:
    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(DECODE_SWITCH, "true")  # restored after the test; initialize switches it off
    manifest = {"model": {"modelName": "hl", "modelVersion": "7", "serializedFile": "model.pt"}}
    context = Context("hl", str(model_dir), manifest, 8, None, "0.12.0")
    handler = FamilyHandler()
    handler.initialize(context)
    return handler, context


def _batch(context: Context, requests: list[tuple[bytes, dict[str, str]]]) -> list[dict]:
    """``requests`` (body, headers) as TorchServe's worker hands a batch to ``handle``."""
    context.request_processor = [RequestProcessor(headers) for _, headers in requests]
    context.request_ids = {i: f"ts-{i}" for i in range(len(requests))}
    return [{"body": body} for body, _ in requests]


def _json_body(tensors: dict, **document) -> bytes:
    inputs = [
        {"name": k, "shape": list(v.shape), "datatype": "FP32", "data": v.ravel().tolist()}
        for k, v in tensors.items()
    ]
    return orjson.dumps({"inputs": inputs, **document})


def test_initialize_turns_the_workers_json_decoding_off(handler) -> None:
    import os

    assert os.environ[DECODE_SWITCH] == "false"


def test_one_batch_of_mixed_requests_is_one_forward_and_each_gets_its_own_answer(
    handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, context = handler
    examples = [SPEC.serve.example(CONFIG, seed=i, frames=n) for i, n in enumerate((150, 5, 90))]
    expected = [handler.predictor.predict(t) for t in examples]
    binary_tensors = [v2.Tensor(k, "FP32", v.shape, v) for k, v in examples[2].items()]
    binary, header = v2.encode({"id": "bin"}, "inputs", binary_tensors, True)
    short = _json_body(examples[0])
    short = short.replace(b'"data":[', b'"data":[1.0,', 1)  # one value more than its shape holds
    requests = [
        (_json_body(examples[0], id="a", parameters={"request_id": "a", "age": 44, "not_metadata": 1}), {}),
        (short, {}),
        (_json_body(examples[1]), {}),  # no id: TorchServe's request id answers
        (b"{not json", {}),
        (
            binary,
            {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(header)},
        ),
    ]
    calls: list[int] = []
    predict_checked = handler.predictor.predict_checked

    def counted(batch):
        calls.append(len(batch))
        return predict_checked(batch)

    monkeypatch.setattr(handler.predictor, "predict_checked", counted)
    answers = handler.handle(_batch(context, requests), context)
    assert calls == [3]  # the three valid requests, one forward pass
    assert len(answers) == len(requests)
    statuses = [context.get_response_status(i)[0] for i in range(len(requests))]
    assert statuses == [200, 400, 200, 400, 200]
    assert (
        "current: data has 57601 values but shape [150, 384] needs 57600"
        in orjson.loads(answers[1])["message"]
    )
    assert "malformed JSON" in orjson.loads(answers[3])["message"]
    first, second = orjson.loads(answers[0]), orjson.loads(answers[2])
    assert (first["id"], first["parameters"]) == ("a", {"request_id": "a", "age": 44})
    assert (second["id"], "parameters" in second) == ("ts-2", False)
    assert first["model_name"] == "hl" and first["model_version"] == "7"
    _, outputs = v2.decode_response(answers[4], None)
    for answer, want in zip(
        [{t.name: t.data for t in v2.decode_response(a, None)[1]} for a in answers[0:3:2]]
        + [{t.name: t.data for t in outputs}],
        expected,
        strict=True,
    ):
        for name, value in want.items():
            np.testing.assert_allclose(answer[name].reshape(value.shape), value, rtol=1e-5, atol=1e-6)
    assert context.get_response_content_type(4) == "application/json"  # binary in, JSON out unless asked


def test_binary_outputs_when_asked(handler) -> None:
    handler, context = handler
    tensors = SPEC.serve.example(CONFIG)
    body = _json_body(tensors, id="b", outputs=[{"name": "probability", "parameters": {"binary_data": True}}])
    (answer,) = handler.handle(_batch(context, [(body, {})]), context)
    length = context.get_response_headers(0)[v2.HEADER_LENGTH]
    document, (probability,) = v2.decode_response(answer, length)
    assert document["id"] == "b" and probability.name == "probability"
    assert float(probability.data) == pytest.approx(
        float(handler.predictor.predict(tensors)["probability"]), abs=1e-6
    )
    unknown = _json_body(tensors, outputs=[{"name": "nope"}])
    (refused,) = handler.handle(_batch(context, [(unknown, {})]), context)
    assert (
        context.get_response_status(0)[0] == 400
        and "unexpected output 'nope'" in orjson.loads(refused)["message"]
    )
