"""KServe inference-logger CloudEvents -> the halves of inference records the store keeps.

KServe's agent logger (pkg/logger/worker.go) posts one CloudEvent per request and one per response,
in binary content mode: ``ce-id`` is the inference id shared by both, ``ce-type`` is
``org.kubeflow.serving.inference.request`` or ``.response``, the extensions ``ce-inferenceservicename``,
``ce-namespace``, ``ce-component``, ``ce-endpoint`` name where it came from, and the body is the payload
as served: KServe v1 JSON, Open Inference Protocol v2 JSON, or v2 binary (a JSON header of
``Inference-Header-Content-Length`` bytes followed by the raw tensors). Structured mode
(``application/cloudevents+json``) is accepted too. Our model server also logs error responses
(a body ``{"error": ...}``), which KServe's logger drops.

Raw tensors never leave this module: a request keeps its metadata and per-tensor summaries
(monitoring.records.summarize_inputs), a response its scalar outputs and model version.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from monitoring.records import BASE_COLUMNS, MODEL_VERSION, scalar_outputs, tensor_summary
from serving import v2

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
KINDS = {REQUEST_TYPE: "request", RESPONSE_TYPE: "response"}
STRUCTURED = "application/cloudevents+json"
ERROR = "error"
# model names become partition directories: DNS-label-like names only, never a path
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
MAX_ERROR_CHARS = 500
# v2 parameters that steer the protocol rather than describe the request
PROTOCOL_PARAMETERS = {"binary_data_output", "binary_data_size", "binary_data", "content_type", "headers"}
# columns a half fills itself; a metadata field of the same name is kept as metadata_<name>
RESERVED = {*BASE_COLUMNS, ERROR, "request_logged", "response_logged"}


class EventError(ValueError):
    """A malformed event: ``reason`` is the counter it is counted under, the message names the field."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Half:
    """What one event contributes to one inference record (a request or a response half)."""

    inference_id: str
    kind: str  # "request" | "response"
    time: datetime
    model_name: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """De-duplication key: (ce-id, ce-type) of the event, per inference of a batch."""
        return f"{self.inference_id}\x1f{self.kind}"

    def to_json(self) -> bytes:
        """Compact journal form; float vectors travel as base64 float32 (4 bytes each, exact)."""
        fields = {
            k: {"f32": base64.b64encode(v.tobytes()).decode()} if isinstance(v, np.ndarray) else v
            for k, v in self.fields.items()
        }
        doc = {"id": self.inference_id, "kind": self.kind, "time": self.time.isoformat()}
        # orjson writes a non-finite float as null (read back as a missing value)
        return orjson.dumps({**doc, "model": self.model_name, "fields": fields})

    @classmethod
    def from_json(cls, line: bytes) -> Half:
        doc = orjson.loads(line)
        fields = {
            k: np.frombuffer(base64.b64decode(v["f32"]), dtype="<f4") if isinstance(v, dict) else v
            for k, v in doc["fields"].items()
        }
        time = datetime.fromisoformat(doc["time"])
        return cls(doc["id"], doc["kind"], time, doc["model"], fields)


def parse_event(headers: Mapping[str, str], body: bytes, received: datetime | None = None) -> list[Half]:
    """Validate one CloudEvent and return its halves (one per instance of a v1 batch, else one).

    ``headers`` must be case-insensitive or lower-case. Raises EventError naming the problem.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == STRUCTURED:
        attributes, body, content_type = _structured(body)
    else:
        attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
    for name in ("specversion", "id", "type", "source"):
        if not attributes.get(name):
            raise EventError("missing_attribute", f"ce-{name}: required CloudEvents attribute is missing")
    if attributes["specversion"] != "1.0":
        raise EventError("bad_attribute", f"ce-specversion: must be 1.0, got {attributes['specversion']!r}")
    kind = KINDS.get(attributes["type"])
    if kind is None:
        raise EventError(
            "bad_type", f"ce-type: {attributes['type']!r} is neither {REQUEST_TYPE} nor {RESPONSE_TYPE}"
        )
    time = _time(attributes.get("time"), received)
    status = _status_code(attributes.get("statuscode"))
    if kind == "response" and status >= 400:
        # a failed response: kept as an error whatever its body (KServe's own logger drops these)
        try:
            payload, _ = _payload(body, content_type, headers, attributes)
        except EventError:
            payload = {}
        message = payload.get(ERROR) if isinstance(payload, dict) else None
        text = message if message is not None else body[:MAX_ERROR_CHARS].decode("utf-8", "replace")
        model = attributes.get("inferenceservicename") or ""
        if not MODEL_NAME_PATTERN.fullmatch(model):
            raise EventError("bad_attribute", f"ce-inferenceservicename: {model!r} is not a valid model name")
        row = {MODEL_VERSION: None, ERROR: f"HTTP {status}: {text}"[:MAX_ERROR_CHARS]}
        return [Half(attributes["id"], kind, time, model, row)]
    payload, raw = _payload(body, content_type, headers, attributes)
    if kind == "request":
        model = attributes.get("inferenceservicename") or ""
        if not model:
            raise EventError("missing_attribute", "ce-inferenceservicename: required on request events")
        rows = _request_rows(payload, raw)
    else:
        model = attributes.get("inferenceservicename") or str(payload.get("model_name") or "")
        if not model:
            raise EventError(
                "missing_attribute", "ce-inferenceservicename: required (the response names no model_name)"
            )
        rows = _response_rows(payload, raw)
    if not MODEL_NAME_PATTERN.fullmatch(model):
        raise EventError("bad_attribute", f"ce-inferenceservicename: {model!r} is not a valid model name")
    event_id = attributes["id"]
    ids = [event_id] if len(rows) == 1 else [f"{event_id}:{i}" for i in range(len(rows))]
    return [Half(i, kind, time, model, row) for i, row in zip(ids, rows, strict=True)]


def _status_code(value: str | None) -> int:
    """The ``ce-statuscode`` extension our model server adds (0 when absent: KServe's logger omits it)."""
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        raise EventError("bad_attribute", f"ce-statuscode: not an HTTP status code: {value!r}") from None


def _structured(body: bytes) -> tuple[dict[str, str], bytes, str]:
    try:
        doc = v2.loads_json(body, "body")
    except v2.V2Error as err:
        message = str(err).removeprefix("body: malformed JSON: ")
        raise EventError("bad_json", f"body: structured CloudEvent is not JSON: {message}") from None
    if not isinstance(doc, dict):
        raise EventError("bad_json", "body: structured CloudEvent must be a JSON object")
    attributes = {k: str(v) for k, v in doc.items() if k not in ("data", "data_base64")}
    if "data_base64" in doc:
        try:
            data = base64.b64decode(doc["data_base64"], validate=True)
        except ValueError:
            raise EventError("bad_body", "data_base64: not valid base64") from None
    else:
        data = orjson.dumps(doc.get("data"))
    return attributes, data, str(doc.get("datacontenttype", "application/json")).lower()


def _time(value: str | None, received: datetime | None) -> datetime:
    if not value:
        return received or datetime.now(UTC)
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventError("bad_attribute", f"ce-time: not an RFC 3339 timestamp: {value!r}") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _header_length(headers: Mapping[str, str], attributes: Mapping[str, str]) -> int | None:
    """Length of a v2 binary body's JSON header: the HTTP header, or the one KServe forwards in
    ``ce-metadata`` (a JSON map of the request's headers to lists of values)."""
    value = headers.get(v2.HEADER_LENGTH)
    if value is None and attributes.get("metadata"):
        try:
            forwarded = {k.lower(): v for k, v in json.loads(attributes["metadata"]).items()}
        except (ValueError, AttributeError):
            raise EventError("bad_attribute", "ce-metadata: must be a JSON object of header lists") from None
        found = forwarded.get(v2.HEADER_LENGTH)
        value = found[0] if isinstance(found, list) and found else found
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise EventError("bad_binary", f"{v2.HEADER_LENGTH}: not an integer: {value!r}") from None


def _payload(
    body: bytes, content_type: str, headers: Mapping[str, str], attributes: Mapping[str, str]
) -> tuple[dict[str, Any], memoryview]:
    """The JSON document of the body and the binary tensor bytes after it (empty for pure JSON), a view."""
    if not body:
        raise EventError("bad_body", "body: empty; the event carries no payload")
    length = _header_length(headers, attributes)
    if length is None and content_type == "application/octet-stream":
        length = _json_prefix(body)
    if length is not None:
        try:
            length = v2.header_length(length, len(body))
        except v2.V2Error as err:
            raise EventError("bad_binary", str(err)) from None
    view = memoryview(body)  # the tensors stay in the body: slices of a view copy nothing
    head, raw = (view, view[:0]) if length is None else (view[:length], view[length:])
    try:
        doc = v2.loads_json(head, "body")  # orjson, the standard library only for NaN / Infinity literals
    except v2.V2Error as err:
        raise EventError(
            "bad_json", f"body: not valid JSON: {str(err).removeprefix('body: malformed JSON: ')}"
        ) from None
    if not isinstance(doc, dict):
        raise EventError("bad_body", f"body: must be a JSON object, got {type(doc).__name__}")
    return doc, raw


def _json_prefix(body: bytes) -> int:
    """End of the JSON object that opens a binary body sent without its header length."""
    try:
        # latin-1 maps bytes to characters one to one, so the index is a byte offset
        _, end = json.JSONDecoder().raw_decode(body.decode("latin-1"))
    except ValueError as err:
        raise EventError(
            "bad_binary", f"body: binary payload does not start with a JSON header: {err}"
        ) from None
    return end


def _metadata(values: Any, where: str) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise EventError("bad_body", f"{where}: must be an object, got {type(values).__name__}")
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if key in PROTOCOL_PARAMETERS:
            continue
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise EventError("bad_body", f"{where}.{key}: must be a string, number or boolean")
        kept[f"metadata_{key}" if key in RESERVED else key] = value
    return kept


def _summaries(tensors: Mapping[str, Any], where: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, value in tensors.items():
        try:
            # a decoded v2 tensor stays as it came (a float32 view of the body); JSON lists become float64
            array = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise EventError("bad_tensor", f"{where}.{name}: not a numeric tensor") from None
        if array.dtype.kind not in "fiub":
            raise EventError("bad_tensor", f"{where}.{name}: not a numeric tensor")
        if array.ndim == 0:
            summary[name] = float(array)
            continue
        if array.ndim > 2:  # e.g. images: statistics per channel (last axis) over all other axes
            array = array.reshape(-1, array.shape[-1])
        try:
            summary.update(tensor_summary(name, array))
        except ValueError as err:
            raise EventError("bad_tensor", f"{where}.{err}") from None
    return summary


def _request_rows(doc: dict[str, Any], raw: memoryview) -> list[dict[str, Any]]:
    if "instances" in doc:  # v1
        instances = doc["instances"]
        if not isinstance(instances, list) or not instances:
            raise EventError("bad_body", "instances: must be a non-empty list")
        metadata = _metadata(doc.get("metadata"), "metadata")
        rows = []
        for index, instance in enumerate(instances):
            tensors = instance if isinstance(instance, dict) else {"instance": instance}
            rows.append({**metadata, **_summaries(tensors, f"instances[{index}]")})
        return rows
    if "inputs" in doc:  # v2
        metadata = _metadata(doc.get("parameters"), "parameters")
        if doc.get("id") and "request_id" not in metadata:
            metadata["request_id"] = str(doc["id"])
        tensors = _v2_tensors(doc["inputs"], raw, "inputs")
        return [{**metadata, **_summaries(tensors, "inputs")}]
    raise EventError("bad_body", "body: a request needs 'instances' (v1) or 'inputs' (v2)")


def _response_rows(doc: dict[str, Any], raw: memoryview) -> list[dict[str, Any]]:
    version = doc.get("model_version")
    base: dict[str, Any] = {MODEL_VERSION: None if version is None else str(version)}
    if ERROR in doc:  # our server's error responses (KServe's own logger drops them)
        return [{**base, ERROR: str(doc[ERROR])[:MAX_ERROR_CHARS]}]
    if "predictions" in doc:  # v1
        predictions = doc["predictions"]
        if not isinstance(predictions, list) or not predictions:
            raise EventError("bad_body", "predictions: must be a non-empty list")
        metadata = _metadata(doc.get("metadata"), "metadata")
        rows = []
        for prediction in predictions:
            outputs = prediction if isinstance(prediction, dict) else {"prediction": prediction}
            try:
                rows.append({**metadata, **base, **scalar_outputs(outputs)})
            except (TypeError, ValueError):
                raise EventError("bad_body", "predictions: outputs must be numeric") from None
        return rows
    if "outputs" in doc:  # v2
        outputs = _v2_tensors(doc["outputs"], raw, "outputs")
        metadata = _metadata(doc.get("parameters"), "parameters")
        return [{**metadata, **base, **scalar_outputs(outputs)}]
    raise EventError("bad_body", "body: a response needs 'predictions' (v1), 'outputs' (v2) or 'error'")


def _v2_tensors(entries: Any, raw: memoryview, where: str) -> dict[str, np.ndarray]:
    """The numeric tensors of a v2 ``inputs`` / ``outputs`` list (``BYTES`` ones have no summary)."""
    try:
        tensors = v2.decode_tensors(entries, raw, where)
    except v2.V2Error as err:
        raise EventError(f"bad_{err.part}", f"{where}.{err}" if err.tensor else str(err)) from None
    return {t.name: t.data for t in tensors if t.datatype != "BYTES"}
