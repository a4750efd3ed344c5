"""The Open Inference Protocol v2 codec (serving/v2.py): every datatype both ways, BYTES, bad bodies."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from serving import v2

pytestmark = pytest.mark.unit

NUMERIC = [name for name in v2.DTYPES if name != "BYTES"]


def _values(datatype: str) -> np.ndarray:
    dtype = v2.DTYPES[datatype]
    if dtype.kind == "b":
        return np.array([[True, False, True], [False, False, True]])
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    # the extremes of the type: JSON text and binary data must both carry them exactly
    return np.array([[info.min, 0, 1], [2, 3, info.max]], dtype=dtype)


def _tensor(name: str, value: np.ndarray, datatype: str) -> v2.Tensor:
    return v2.Tensor(name, datatype, value.shape, value)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", NUMERIC)
def test_every_numeric_datatype_round_trips(datatype: str, binary: bool) -> None:
    value = _values(datatype)
    body, length = v2.encode({"id": "r-1"}, "inputs", [_tensor("x", value, datatype)], binary)
    assert (length is not None) == binary
    document, (tensor,) = v2.decode_request(body, None if length is None else str(length))
    assert document["id"] == "r-1"
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, (2, 3))
    assert tensor.data.dtype == v2.DTYPES[datatype]
    np.testing.assert_array_equal(tensor.data, value)
    assert v2.from_np_dtype(value.dtype) == datatype and v2.to_np_dtype(datatype) == value.dtype


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_bytes_tensors_round_trip(binary: bool) -> None:
    value = np.array([["a", "bé"], ["", "z" * 300]], dtype=object)
    body, length = v2.encode({}, "inputs", [_tensor("s", value, "BYTES")], binary)
    _, (tensor,) = v2.decode_request(body, None if length is None else str(length))
    # JSON carries text, binary data carries the bytes as they were sent
    expected = value if not binary else np.vectorize(str.encode, otypes=[object])(value)
    assert tensor.shape == (2, 2) and tensor.data.tolist() == expected.tolist()


def test_binary_bytes_are_length_prefixed_and_need_not_be_text() -> None:
    clip = bytes(range(256)) * 3
    body, length = v2.encode({}, "inputs", [_tensor("clip", np.array([clip], dtype=object), "BYTES")], True)
    assert body[length:] == struct.pack("<I", len(clip)) + clip
    _, (tensor,) = v2.decode_request(body, str(length))
    assert tensor.data[0] == clip
    with pytest.raises(v2.V2Error, match="clip: BYTES data is not UTF-8 text"):
        v2.to_json(body, str(length))


def test_binary_data_is_a_view_of_the_body_not_a_copy() -> None:
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    body, length = v2.encode({}, "inputs", [_tensor("x", value, "FP32")], True)
    _, (tensor,) = v2.decode_request(body, str(length))
    assert np.shares_memory(tensor.data, np.frombuffer(body, np.uint8))


def test_kserve_clients_and_the_codec_read_each_other() -> None:
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    infer_input = InferInput("x", [2, 3], "FP32")
    infer_input.set_data_from_numpy(value, binary_data=True)
    body, length = InferRequest("m", [infer_input], request_id="r-1", parameters={"age": 3}).to_rest()
    document, (tensor,) = v2.decode_request(body, str(length))
    assert document["parameters"] == {"age": 3} and document["id"] == "r-1"
    np.testing.assert_array_equal(tensor.data, value)
    body, length = v2.encode({"model_name": "m", "id": "r-1"}, "outputs", [_tensor("y", value, "FP32")], True)
    outputs = InferResponse.from_bytes(body, length).outputs
    np.testing.assert_array_equal(outputs[0].as_numpy(), value)
    output = InferOutput("y", [2, 3], "FP32", data=value)
    response = InferResponse("r-1", "m", [output], model_version="7", use_binary_outputs=True)
    body, length = response.to_rest()
    document, (tensor,) = v2.decode_response(body, str(length))
    assert document["model_version"] == "7"
    np.testing.assert_array_equal(tensor.data, value)


def test_a_binary_message_is_rewritten_as_the_same_json() -> None:
    tensors = [_tensor("x", np.ones((2, 2), np.float32), "FP32"), _tensor("n", np.arange(3), "INT64")]
    json_body, _ = v2.encode({"id": "a"}, "outputs", tensors)
    binary_body, length = v2.encode({"id": "a"}, "outputs", tensors, binary={"x"})
    rewritten = json.loads(v2.to_json(binary_body, str(length)))
    assert rewritten["outputs"][0]["parameters"] == {}  # binary_data_size dropped
    rewritten["outputs"][0].pop("parameters")
    assert rewritten == json.loads(json_body)


def _binary(shape: list[int], size: int, payload: bytes, datatype: str = "FP32") -> tuple[bytes, str]:
    entry = {"name": "x", "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": size}}
    header = json.dumps({"inputs": [entry]}).encode()
    return header + payload, str(len(header))


def _json(entry: dict) -> bytes:
    return json.dumps({"inputs": [{"name": "x", **entry}]}).encode()


GOOD, GOOD_LENGTH = _binary([2], 8, b"\0" * 8)
BAD = [
    (GOOD, GOOD_LENGTH, None),  # the valid body the others break
    (GOOD, "abc", "inference-header-content-length: must be a non-negative integer, got 'abc'"),
    (GOOD, "-1", "inference-header-content-length: must be a non-negative integer"),
    (GOOD, "0", "0 is outside the body"),
    (GOOD, "9999", "9999 is outside the body"),
    (GOOD, "5", "request JSON header: malformed JSON"),
    (*_binary([3], 8, b"\0" * 8), "binary_data_size 8 does not match shape [3] of FP32 (12 bytes)"),
    (*_binary([2], 8, b"\0" * 4), "x: binary_data_size 8 at byte 0 runs past the 4 binary bytes"),
    (*_binary([2], 8, b"\0" * 12), "binary data: 12 bytes follow the JSON header"),
    (*_binary([2], -8, b""), "x: binary_data_size must be a non-negative integer"),
    (*_binary([1], 6, struct.pack("<I", 5) + b"ab", "BYTES"), "x: BYTES element 0 of 5 bytes runs past"),
    (*_binary([1], 7, struct.pack("<I", 1) + b"abc", "BYTES"), "holds more than the 1 BYTES elements"),
    (*_binary([2], 5, struct.pack("<I", 1) + b"a", "BYTES"), "x: BYTES element 1 has no 4-byte length"),
    (_json({"shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}), None, "x: data has 3 values but shape"),
    (_json({"shape": [2], "datatype": "FP32", "data": [[1], [1, 2]]}), None, "x: data is not a rectangular"),
    (_json({"shape": [1], "datatype": "FP32", "data": ["a"]}), None, "x: data must hold only numbers"),
    (
        _json({"shape": [2], "datatype": "BYTES", "data": ["a", 1]}),
        None,
        "x: BYTES data must be a rectangular",
    ),
    (_json({"shape": [1], "datatype": "COMPLEX", "data": [1]}), None, "x: unsupported datatype 'COMPLEX'"),
    (
        _json({"shape": [1] * 9, "datatype": "FP32", "data": [1]}),
        None,
        "x: shape must be a list of at most 8",
    ),
    (_json({"shape": [True], "datatype": "FP32", "data": [1]}), None, "x: shape must be a list"),
    (
        _json({"shape": [1], "datatype": "FP32"}),
        None,
        "x: has neither 'data' nor parameters.binary_data_size",
    ),
    (b'{"inputs": []}', None, "inputs: must be a non-empty list of tensors"),
    (b'{"inputs": [1]}', None, "inputs[0]: must be an object"),
    (b'{"inputs": [{"name": ""}]}', None, "inputs[0].name: must be a non-empty string"),
    (b"[1]", None, "request body: must be a JSON object with 'inputs'"),
    (b'{"inputs": [', None, "request body: malformed JSON"),
    (
        _json({"shape": [1], "datatype": "FP32", "data": [1]})[:-1] + b', "id": 3}',
        None,
        "id: must be a string",
    ),
]


@pytest.mark.parametrize(("body", "length", "message"), BAD)
def test_malformed_bodies_name_the_field_and_the_problem(body: bytes, length: str | None, message) -> None:
    if message is None:
        assert v2.decode_request(body, length)[1][0].data.tolist() == [0.0, 0.0]
        return
    with pytest.raises(v2.V2Error) as caught:
        v2.decode_request(body, length)
    assert message in str(caught.value)


def test_errors_say_which_part_and_tensor_broke() -> None:
    with pytest.raises(v2.V2Error) as caught:
        v2.decode_request(*_binary([2], 8, b"\0" * 4))
    assert (caught.value.part, caught.value.tensor) == ("binary", "x")
    with pytest.raises(v2.V2Error) as caught:
        v2.decode_request(b'{"inputs": []}', None)
    assert (caught.value.part, caught.value.tensor) == ("body", None)


def test_non_finite_json_literals_and_overflow_reach_the_schema_check() -> None:
    body = b'{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [NaN, Infinity, 1e39]}]}'
    _, (tensor,) = v2.decode_request(body, None)
    assert np.isnan(tensor.data[0]) and np.isinf(tensor.data[1:]).all()
