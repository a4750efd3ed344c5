"""Open Inference Protocol v2 over REST: the one codec of the servers, the inference logger, the sink and
its client.

A body is a JSON document, or (binary tensor data extension) a JSON header of
``Inference-Header-Content-Length`` bytes followed by the raw bytes of every tensor that declares
``parameters.binary_data_size``, in the order of the tensor list. Numeric tensors are little-endian and
row-major; each element of a ``BYTES`` tensor is a 4-byte little-endian length and that many bytes. In
JSON, ``data`` is a flat or nested list of numbers, or of strings for ``BYTES``.

Decoding gives numpy arrays (binary numeric tensors as views of the body, not copies) and raises
``V2Error`` naming the field and the problem, which every caller turns into its 4xx.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

HEADER_LENGTH = "inference-header-content-length"
MAX_RANK = 8  # no family's tensor has more dims; bounds the work a hostile shape can ask for
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_BY_KIND = {(dtype.kind, dtype.itemsize): name for name, dtype in DTYPES.items() if name != "BYTES"}
_LENGTH = struct.Struct("<I")  # a BYTES element's length prefix


class V2Error(ValueError):
    """A malformed v2 body. ``part`` is what broke (``json``, ``body``, ``tensor`` or ``binary``);
    ``tensor`` names the tensor when the problem lies in one."""

    def __init__(self, message: str, part: str = "body", tensor: str | None = None) -> None:
        super().__init__(message)
        self.part = part
        self.tensor = tensor


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray  # of ``shape``; BYTES: objects, ``bytes`` from binary data, ``str`` from JSON
    parameters: dict[str, Any] | None = None  # as sent, less binary_data_size


def to_np_dtype(datatype: str) -> np.dtype | None:
    return DTYPES.get(datatype)


def from_np_dtype(dtype: np.dtype) -> str | None:
    """The v2 datatype of a numpy dtype: strings, bytes and objects are ``BYTES``; None if it has none."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return "BYTES"
    return _BY_KIND.get((dtype.kind, dtype.itemsize))


def loads_json(body: bytes | memoryview, what: str) -> Any:
    """Parse JSON; V2Error naming ``what`` and where it breaks.

    orjson first (fast); on failure the standard library, which also reads the NaN / Infinity literals
    numpy-minded clients send, so that those reach the schema check and get its specific message.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise V2Error(f"{what}: malformed JSON: {err}", "json") from None


def header_length(value: str | int, body_length: int) -> int:
    """The JSON header's length (``Inference-Header-Content-Length``), checked against the body's."""
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise V2Error(f"{HEADER_LENGTH}: must be a non-negative integer, got {value!r}", "binary")
        value = int(value)
    if not 0 < value <= body_length:
        raise V2Error(f"{HEADER_LENGTH}: {value} is outside the body of {body_length} bytes", "binary")
    return value


def split(body: bytes, length: str | None, what: str) -> tuple[Any, memoryview]:
    """A body -> its JSON document and the binary section after it (empty without ``length``)."""
    if length is None:
        return loads_json(body, f"{what} body"), memoryview(b"")
    end = header_length(length, len(body))
    view = memoryview(body)
    return loads_json(view[:end], f"{what} JSON header"), view[end:]


def decode_request(body: bytes, length: str | None) -> tuple[dict[str, Any], list[Tensor]]:
    """A v2 request body -> its document (``id``, ``parameters``, ``outputs`` checked) and its inputs."""
    document, binary = split(body, length, "request")
    if not isinstance(document, dict):
        raise V2Error(f"request body: must be a JSON object with 'inputs', got {type(document).__name__}")
    inputs = decode_tensors(document.get("inputs"), binary, "inputs")
    request_id, parameters = document.get("id"), document.get("parameters")
    if request_id is not None and not isinstance(request_id, str):
        raise V2Error(f"id: must be a string, got {type(request_id).__name__}")
    if parameters is not None and not isinstance(parameters, dict):
        raise V2Error(f"parameters: must be an object, got {type(parameters).__name__}")
    outputs = document.get("outputs")
    if outputs is not None and (
        not isinstance(outputs, list)
        or not all(
            isinstance(o, dict)
            and isinstance(o.get("name"), str)
            and isinstance(o.get("parameters") or {}, dict)
            for o in outputs
        )
    ):
        raise V2Error("outputs: must be a list of objects with a name and optional parameters")
    return document, inputs


def decode_response(body: bytes, length: str | None) -> tuple[dict[str, Any], list[Tensor]]:
    """A v2 response body -> its document (``model_version``, ``parameters``...) and its outputs."""
    document, binary = split(body, length, "response")
    if not isinstance(document, dict):
        raise V2Error(f"response body: must be a JSON object with 'outputs', got {type(document).__name__}")
    return document, decode_tensors(document.get("outputs"), binary, "outputs")


def decode_tensors(entries: Any, binary: bytes | memoryview, where: str) -> list[Tensor]:
    """The tensor list ``where`` (``inputs`` / ``outputs``) of a document; binary data taken in order."""
    if not isinstance(entries, list) or not entries:
        raise V2Error(f"{where}: must be a non-empty list of tensors")
    tensors, offset = [], 0
    for index, entry in enumerate(entries):
        tensor, offset = _decode_tensor(f"{where}[{index}]", entry, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise V2Error(
            f"binary data: {len(binary)} bytes follow the JSON header but the {where}' "
            f"binary_data_size add up to {offset}",
            "binary",
        )
    return tensors


def _decode_tensor(where: str, entry: Any, binary: bytes | memoryview, offset: int) -> tuple[Tensor, int]:
    if not isinstance(entry, dict):
        raise V2Error(f"{where}: must be an object with name, shape, datatype and data")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise V2Error(f"{where}.name: must be a non-empty string")
    shape, datatype = entry.get("shape"), entry.get("datatype")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_RANK
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise V2Error(
            f"{name}: shape must be a list of at most {MAX_RANK} non-negative integers, got {shape!r}",
            "tensor",
            name,
        )
    dtype = DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise V2Error(f"{name}: unsupported datatype {datatype!r}", "tensor", name)
    parameters = entry.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise V2Error(f"{name}: parameters must be an object", "tensor", name)
    count = math.prod(shape)
    if "data" in entry:
        array = _json_array(name, entry["data"], datatype, dtype)
        if array.size != count:
            raise V2Error(
                f"{name}: data has {array.size} values but shape {shape} needs {count}", "tensor", name
            )
    elif parameters and "binary_data_size" in parameters:
        size = parameters["binary_data_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise V2Error(
                f"{name}: binary_data_size must be a non-negative integer, got {size!r}", "binary", name
            )
        if datatype != "BYTES" and size != count * dtype.itemsize:
            raise V2Error(
                f"{name}: binary_data_size {size} does not match shape {shape} of {datatype} "
                f"({count * dtype.itemsize} bytes)",
                "binary",
                name,
            )
        if offset + size > len(binary):
            raise V2Error(
                f"{name}: binary_data_size {size} at byte {offset} runs past the {len(binary)} binary bytes",
                "binary",
                name,
            )
        if datatype == "BYTES":
            array = deserialize_bytes(name, binary[offset : offset + size], count)
        else:
            array = np.frombuffer(binary, dtype, count, offset)
        offset += size
    else:
        raise V2Error(f"{name}: has neither 'data' nor parameters.binary_data_size", "tensor", name)
    rest = None if parameters is None else {k: v for k, v in parameters.items() if k != "binary_data_size"}
    return Tensor(name, datatype, tuple(shape), array.reshape(shape), rest), offset


def _json_array(name: str, data: Any, datatype: str, dtype: np.dtype) -> np.ndarray:
    if not isinstance(data, list):
        raise V2Error(f"{name}: data must be a list, got {type(data).__name__}", "tensor", name)
    if datatype == "BYTES":
        try:
            array = np.array(data, dtype=object)
        except ValueError:  # some ragged nestings fail here, the others leave lists as elements
            array = None
        if array is None or not all(isinstance(value, str) for value in array.flat):
            raise V2Error(f"{name}: BYTES data must be a rectangular list of strings", "tensor", name)
        return array.reshape(-1)
    try:
        array = np.asarray(data)
    except ValueError as err:  # ragged nesting
        raise V2Error(f"{name}: data is not a rectangular array ({err})", "tensor", name) from None
    if array.dtype.kind not in "biuf":
        raise V2Error(f"{name}: data must hold only numbers, got {array.dtype.kind!r} values", "tensor", name)
    if array.dtype.kind == "f" and dtype.kind in "iu":
        # numpy reads a list holding ints past INT64 (UINT64's upper half) as float64, which rounds them
        try:
            return np.asarray(data, dtype=dtype).reshape(-1)
        except (OverflowError, ValueError) as err:
            raise V2Error(f"{name}: data does not fit {datatype}: {err}", "tensor", name) from None
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf; the schema refuses it
        return array.astype(dtype, copy=False).reshape(-1)


def deserialize_bytes(name: str, raw: bytes | memoryview, count: int) -> np.ndarray:
    """``count`` length-prefixed elements filling ``raw`` exactly -> a 1-d object array of ``bytes``."""
    out, offset = np.empty(count, dtype=object), 0
    for index in range(count):
        if offset + _LENGTH.size > len(raw):
            raise V2Error(f"{name}: BYTES element {index} has no 4-byte length prefix", "binary", name)
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += _LENGTH.size
        if offset + length > len(raw):
            raise V2Error(
                f"{name}: BYTES element {index} of {length} bytes runs past its {len(raw)}-byte data",
                "binary",
                name,
            )
        out[index] = bytes(raw[offset : offset + length])
        offset += length
    if offset != len(raw):
        raise V2Error(
            f"{name}: binary_data_size {len(raw)} holds more than the {count} BYTES elements of its shape",
            "binary",
            name,
        )
    return out


def serialize_bytes(array: np.ndarray) -> bytes:
    """A BYTES tensor's elements (``bytes``, or text sent as UTF-8) as length-prefixed binary data."""
    parts = []
    for value in array.reshape(-1):
        raw = value if isinstance(value, bytes) else str(value).encode()
        parts += [_LENGTH.pack(len(raw)), raw]
    return b"".join(parts)


def encode(
    document: Mapping[str, Any], key: str, tensors: Sequence[Tensor], binary: bool | Collection[str] = False
) -> tuple[bytes, int | None]:
    """``document`` with the tensor list ``key`` -> a body and its JSON header's length (None: plain JSON).

    ``binary``: True sends every tensor as binary data, a collection only the tensors it names.
    """
    entries, chunks = [], []
    for tensor in tensors:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "shape": list(tensor.shape),
            "datatype": tensor.datatype,
        }
        parameters = dict(tensor.parameters) if tensor.parameters is not None else None
        if binary is True or (binary and tensor.name in binary):
            raw = _raw(tensor)
            parameters = {**(parameters or {}), "binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = _json_data(tensor)
        if parameters is not None:
            entry["parameters"] = parameters
        entries.append(entry)
    header = orjson.dumps({**document, key: entries}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def to_json(body: bytes, length: str) -> bytes:
    """A binary-extension request or response rewritten as the same message in plain JSON."""
    document, binary = split(body, length, "message")
    if not isinstance(document, dict):
        raise V2Error(f"message: must be a JSON object, got {type(document).__name__}")
    key = "inputs" if "inputs" in document else "outputs"
    tensors = decode_tensors(document.get(key), binary, key)
    return encode({k: v for k, v in document.items() if k != key}, key, tensors)[0]


def _raw(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        return serialize_bytes(tensor.data)
    return np.ascontiguousarray(tensor.data, dtype=DTYPES[tensor.datatype]).tobytes()


def _json_data(tensor: Tensor) -> np.ndarray | list[str]:
    if tensor.datatype != "BYTES":
        # orjson writes a native, contiguous array straight to JSON (OPT_SERIALIZE_NUMPY)
        return np.ascontiguousarray(tensor.data, dtype=DTYPES[tensor.datatype]).reshape(-1)
    try:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in tensor.data.reshape(-1)]
    except UnicodeDecodeError:
        raise V2Error(
            f"{tensor.name}: BYTES data is not UTF-8 text, which JSON cannot carry; send it as binary data",
            "tensor",
            tensor.name,
        ) from None
