"""Runtime 2: the predictor core as a TorchServe handler that is its own Open Inference Protocol v2 envelope.

TorchServe copies this file into the ``.mar`` and imports it there as ``handler``, so it holds
exactly one class (TorchServe's loader requires that) and imports the platform as an installed
package. ``serve package`` writes no ``service_envelope``: the stock ``kservev2`` envelope parses the
body with the standard library, turns every tensor into nested Python lists, answers a body whose
data does not fill its shape with 503, drops the request's ``parameters`` and reads only the first
request of a batch. This handler takes each request's raw body instead and decodes it with the
platform's one v2 codec (``serving.v2``: orjson, tensors straight to numpy, v2 JSON or the binary
tensor extension), so that:

- a malformed body, or one failing the schema, gets its own 400 naming the field, alone in its batch;
- the request's ``id`` and its metadata ``parameters`` come back in its response (the inference log's
  join keys), and ``outputs`` / ``binary_data_output`` are honoured as on the KServe runtime;
- a TorchServe batch (``batch_size`` / ``max_batch_delay`` in ``config.properties``) is one forward
  pass through the family's ``predict_batch``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from ts.torch_handler.base_handler import BaseHandler

from core.settings import load_settings
from serving.core import Predictor
from serving.torchserve.package import SERVING_FILE
from serving.v2 import HEADER_LENGTH, Tensor, V2Error, decode_request, encode, from_np_dtype

BAD_REQUEST = 400
# TorchServe's worker json.loads every application/json body before the handler sees it unless this
# is "false"; it reads the variable per request, so the handler can switch it off in its own process
DECODE_SWITCH = "TS_DECODE_INPUT_REQUEST"


class FamilyHandler(BaseHandler):
    def initialize(self, context: Any) -> None:
        """Load the artifact unpacked from the ``.mar`` through the same core as runtime 1."""
        model_dir = Path(context.system_properties["model_dir"])
        manifest = context.manifest["model"]
        family = json.loads((model_dir / SERVING_FILE).read_text())["family"]
        predictor = Predictor.from_uri(family, model_dir / manifest["serializedFile"], load_settings())
        # the archive was built from a resolved registry version whose number the unpacked file no
        # longer carries; the manifest's version is the one the response reports, so keep them equal
        self.predictor = dataclasses.replace(predictor, model_version=manifest["modelVersion"])
        self.manifest = context.manifest
        os.environ[DECODE_SWITCH] = "false"  # bodies reach ``handle`` as bytes, decoded here with orjson
        self.initialized = True

    def handle(self, data: list[dict], context: Any) -> list[bytes]:
        """One TorchServe batch: each request decoded and checked alone, the valid ones predicted
        together, each answered with its own v2 response body or its own 400."""
        answers: list[bytes | None] = [None] * len(data)
        accepted: list[tuple[int, dict, dict[str, np.ndarray]]] = []
        for index, row in enumerate(data):
            try:
                document, tensors = self.decode(row, _header(context, index, HEADER_LENGTH))
                self.predictor.schema.check_inputs(tensors)
            except ValueError as err:  # V2Error is one: both name the field and the problem
                answers[index] = _error(context, index, str(err))
                continue
            accepted.append((index, document, tensors))
        try:
            outputs = self.predictor.predict_checked([tensors for _, _, tensors in accepted])
        except ValueError:  # the family's own checks refused one: each alone, so only it fails
            outputs = [self._predict_one(tensors) for _, _, tensors in accepted]
        for (index, document, _), result in zip(accepted, outputs, strict=True):
            if isinstance(result, ValueError):
                answers[index] = _error(context, index, str(result))
                continue
            try:
                answers[index] = self.respond(context, index, document, result)
            except V2Error as err:  # an ``outputs`` entry naming no output of the model
                answers[index] = _error(context, index, str(err))
        return answers

    def decode(self, row: dict, header_length: str | None) -> tuple[dict, dict[str, np.ndarray]]:
        """A request as TorchServe hands it (the body under ``body`` or ``data``) -> its v2 document and
        named arrays. A body the worker already parsed (``TS_DECODE_INPUT_REQUEST`` on) is re-read
        from its JSON so that it takes the same checks."""
        body = row.get("body", row.get("data"))
        if isinstance(body, (dict, list)):
            body = orjson.dumps(body)
        elif isinstance(body, str):
            body = body.encode()
        if not isinstance(body, (bytes, bytearray)):
            raise V2Error("request body: empty; expected a v2 inference request")
        document, inputs = decode_request(bytes(body), header_length)
        tensors: dict[str, np.ndarray] = {}
        for tensor in inputs:
            if tensor.name in tensors:
                raise V2Error(f"{tensor.name}: input given more than once")
            tensors[tensor.name] = tensor.data
        return document, tensors

    def respond(self, context: Any, index: int, document: dict, result: dict[str, np.ndarray]) -> bytes:
        """The v2 response body of one request, with its ``id``, metadata and requested outputs."""
        wanted = document.get("outputs") or [{"name": name} for name in result]
        binary_default = bool((document.get("parameters") or {}).get("binary_data_output", False))
        tensors, binary = [], set()
        for requested in wanted:
            name = requested["name"]
            if name not in result:
                raise V2Error(f"outputs: unexpected output {name!r}; the model returns {', '.join(result)}")
            value = np.asarray(result[name])
            tensors.append(Tensor(name, from_np_dtype(value.dtype), tuple(value.shape), value))
            flag = (requested.get("parameters") or {}).get("binary_data")
            if binary_default if flag is None else flag:
                binary.add(name)
        fields = self.predictor.schema.metadata
        passthrough = {k: v for k, v in (document.get("parameters") or {}).items() if k in fields}
        response = {
            "id": document.get("id") or context.get_request_id(index),
            "model_name": self.manifest["model"]["modelName"],
            "model_version": self.predictor.model_version,
        }
        if passthrough:
            response["parameters"] = passthrough
        body, json_length = encode(response, "outputs", tensors, binary)
        if json_length is None:
            context.set_response_content_type(index, "application/json")
        else:
            context.set_response_content_type(index, "application/octet-stream")
            context.set_response_header(index, HEADER_LENGTH, str(json_length))
        return body

    def _predict_one(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray] | ValueError:
        try:
            return self.predictor.predict_checked([tensors])[0]
        except ValueError as err:
            return err


def _header(context: Any, index: int, name: str) -> str | None:
    """A request header by name, whatever case the client sent it in."""
    for key, value in (context.get_all_request_header(index) or {}).items():
        if key.lower() == name:
            return value.decode() if isinstance(value, bytes) else value
    return None


def _error(context: Any, index: int, message: str) -> bytes:
    """Request ``index``'s 400: TorchServe's own error body, naming the field and the problem."""
    context.set_response_status(BAD_REQUEST, "Bad Request", index)
    context.set_response_content_type(index, "application/json")
    return orjson.dumps({"code": BAD_REQUEST, "type": "InvalidInput", "message": message})
