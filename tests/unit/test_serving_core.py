"""The predictor core and the kserve model in-process, on a tiny real hearing-loss model."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from core.settings import load_settings
from models import get_family
from serving.core import Predictor, content_version
from serving.kserve_model import FamilyModel

pytestmark = pytest.mark.unit

FAMILY = "hearing_loss"
CONFIG = get_family("hearing_loss").train.tiny()
SPEC = get_family(FAMILY)


@pytest.fixture(scope="module")
def model_path(trained_tiny) -> Path:
    return trained_tiny(CONFIG)


@pytest.fixture(scope="module")
def predictor(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    home = tmp_path_factory.mktemp("home")
    return Predictor.from_uri(FAMILY, model_path, load_settings({"AFFECTOPS_HOME": str(home)}))


def _check_outputs(outputs: dict) -> None:
    assert set(outputs) == {"probability", "label", "threshold", "age_estimate"}
    assert 0.0 <= float(outputs["probability"]) <= 1.0
    assert int(outputs["label"]) == int(float(outputs["probability"]) >= float(outputs["threshold"]))


def test_predictor_loads_a_local_artifact_and_predicts(
    predictor: Predictor, model_path: Path, tmp_path: Path
) -> None:
    outputs = predictor.predict(SPEC.serve.example(CONFIG))
    _check_outputs(outputs)
    assert outputs["probability"].dtype == np.float32 and outputs["label"].dtype == np.int64
    assert predictor.model_version == content_version(model_path)
    # a directory holding only the artifact (what an s3:// prefix materializes to) is the same model
    (tmp_path / "only").mkdir()
    shutil.copy(model_path, tmp_path / "only" / model_path.name)
    same = Predictor.from_uri(FAMILY, tmp_path / "only", load_settings({}))
    assert same.model_version == predictor.model_version


def _bad_inputs() -> list[tuple[str, dict, str]]:
    good = SPEC.serve.example(CONFIG)
    nan = good["anchor"].copy()
    nan[3, 7] = np.nan
    return [
        ("wrong dtype", {**good, "current": good["current"].astype(np.float64)}, "current"),
        ("wrong shape", {**good, "anchor": good["anchor"][:, :10]}, "anchor"),
        ("wrong rank", {**good, "current": good["current"][0]}, "current"),
        ("NaN", {**good, "anchor": nan}, "anchor"),
        ("missing tensor", {"current": good["current"]}, "anchor"),
        ("unknown tensor", {**good, "age": np.zeros((1,), np.float32)}, "age"),
    ]


@pytest.mark.parametrize(("case", "tensors", "field"), _bad_inputs(), ids=[c[0] for c in _bad_inputs()])
def test_predictor_rejects_bad_input_naming_the_field(
    predictor: Predictor, case: str, tensors: dict, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        predictor.predict(tensors)


def test_predictor_rejects_an_unknown_model_reference() -> None:
    with pytest.raises(FileNotFoundError):
        Predictor.from_uri(FAMILY, "/nonexistent/model.pt", load_settings({}))
    with pytest.raises(ValueError, match="models:/NAME@ALIAS"):
        Predictor.from_uri(FAMILY, "models:/hearing_loss", load_settings({}))


@pytest.fixture(scope="module")
def kserve_model(model_path: Path) -> FamilyModel:
    model = FamilyModel("hl", FAMILY, str(model_path), load_settings({}))
    assert not model.ready
    assert model.load() is True and model.ready
    return model


def _call(model: FamilyModel, body):
    response, _headers = asyncio.run(model(body))
    return response


def test_kserve_model_v1_predicts_and_passes_metadata_through(kserve_model: FamilyModel) -> None:
    tensors = SPEC.serve.example(CONFIG)
    metadata = {"request_id": "r1", "age": 71, "gender": "f"}
    body = {"instances": [{k: v.tolist() for k, v in tensors.items()}], "metadata": metadata}
    response = _call(kserve_model, body)
    assert response["model_version"] == kserve_model.model_version
    assert response["metadata"] == metadata
    (prediction,) = response["predictions"]
    _check_outputs(prediction)
    expected = kserve_model.predictor.predict(tensors)
    assert prediction["probability"] == pytest.approx(float(expected["probability"]), abs=1e-6)


def test_kserve_model_v1_bad_input_is_invalid_input_naming_the_field(kserve_model: FamilyModel) -> None:
    tensors = {k: v.tolist() for k, v in SPEC.serve.example(CONFIG).items()}
    with pytest.raises(InvalidInput, match="anchor"):
        _call(kserve_model, {"instances": [{"current": tensors["current"]}]})
    with pytest.raises(InvalidInput, match="current"):
        _call(kserve_model, {"instances": [{**tensors, "current": [[1.0, 2.0], [3.0]]}]})
    with pytest.raises(InvalidInput, match="instances"):
        _call(kserve_model, {"inputs": []})
    with pytest.raises(InvalidInput, match="metadata"):
        _call(kserve_model, {"instances": [tensors], "metadata": "x"})


def _v2_request(tensors: dict, binary: bool = False) -> InferRequest:
    inputs = []
    for name, value in tensors.items():
        infer_input = InferInput(name, list(value.shape), "FP32")
        infer_input.set_data_from_numpy(value, binary_data=binary)
        inputs.append(infer_input)
    return InferRequest(model_name="hl", infer_inputs=inputs, request_id="req-1")


def test_kserve_model_v2_predicts_with_the_model_version(kserve_model: FamilyModel) -> None:
    tensors = SPEC.serve.example(CONFIG)
    response = _call(kserve_model, _v2_request(tensors))
    assert isinstance(response, InferResponse)
    assert response.model_version == kserve_model.model_version and response.id == "req-1"
    outputs = {out.name: out.as_numpy() for out in response.outputs}
    _check_outputs(outputs)
    body, _ = response.to_rest()
    assert body["model_version"] == kserve_model.model_version


def test_kserve_model_v2_bad_input_is_invalid_input_naming_the_field(kserve_model: FamilyModel) -> None:
    tensors = SPEC.serve.example(CONFIG)
    nan = tensors["current"].copy()
    nan[0, 0] = np.inf
    with pytest.raises(InvalidInput, match="current"):
        _call(kserve_model, _v2_request({**tensors, "current": nan}))
    with pytest.raises(InvalidInput, match="anchor"):
        _call(kserve_model, _v2_request({"current": tensors["current"]}))
    short = InferInput("anchor", [150, 384], "FP32", data=[0.0] * 10)  # data does not fill the shape
    request = InferRequest("hl", [_v2_request(tensors).inputs[0], short])
    with pytest.raises(InvalidInput, match="anchor"):
        _call(kserve_model, request)
