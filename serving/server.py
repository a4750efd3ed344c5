"""Serve one model with KServe's ModelServer on ``host`` (loopback by default): REST v1 + v2, v2 gRPC.

kserve 0.21 binds REST to ``0.0.0.0`` and gRPC to ``[::]`` with no option to change it (RESTServer
hard-codes uvicorn's host, GRPCServer its listen address), so the two servers are subclassed here.
The REST app gets, on top of kserve's:

- a body-size limit (413 from ``Content-Length`` before any byte is read, or while streaming);
- its own v2 ``infer`` and v1 ``predict`` routes in front of kserve's: they decode straight to numpy
  (kserve's v2 route validates 115k floats with pydantic and turns binary tensors into Python lists)
  and name the field and the problem for every malformed body, JSON or binary header;
- optionally the local inference logger (``serving.inference_log``).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from concurrent import futures
from typing import Any

import kserve
import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from grpc import aio
from kserve.errors import InvalidInput, ModelNotReady
from kserve.logging import logger  # configured by ModelServer, unlike a logger of our own
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
from kserve.protocol.rest.server import RESTServer
from kserve.utils.numpy_codec import to_np_dtype

from core.settings import Settings, load_settings
from serving.core import max_body_bytes
from serving.inference_log import HEADER_LENGTH, InferenceLogger, InferenceLogMiddleware, Source
from serving.kserve_model import FamilyModel

MAX_RANK = 8  # no family's tensor has more dims; bounds the work a hostile shape can ask for


def serve(
    family: str,
    model_uri: str,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    http_port: int = 8080,
    grpc_port: int = 8081,
    log_url: str | None = None,
    settings: Settings | None = None,
    max_body: int | None = None,
) -> None:
    """Load ``model_uri`` and serve it as ``name`` (default: the family) until SIGINT / SIGTERM.

    ``max_body`` (bytes) defaults to the largest valid request as JSON text (``core.max_body_bytes``);
    ``log_url`` sends every inference to a sink as the KServe agent's logger would.
    """
    settings = settings or load_settings()
    model = FamilyModel(name or family, family, model_uri, settings)
    model.load()
    limit = max_body or max_body_bytes(model.predictor.schema)
    inference_logger = None
    if log_url:
        source = Source(url=f"http://{host}:{http_port}/", inference_service=model.name)
        inference_logger = InferenceLogger(log_url, source)
        inference_logger.start()
    server = HostModelServer(
        host, limit, inference_logger, http_port=http_port, grpc_port=grpc_port, workers=1
    )
    where = f"http://{host}:{http_port}, gRPC {host}:{grpc_port}"
    logger.info("serving %s (%s, version %s) on %s", model.name, family, model.model_version, where)
    try:
        server.start([model])
    finally:
        if inference_logger:
            inference_logger.close()


class HostModelServer(kserve.ModelServer):
    """kserve's ModelServer with both servers bound to ``host`` and the REST additions above."""

    def __init__(self, host: str, max_body: int, inference_logger: InferenceLogger | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.max_body = max_body
        self.inference_logger = inference_logger

    def start(self, models: list[kserve.Model]) -> None:
        # ModelServer.start, single-process branch, with our two servers in place of kserve's
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = _RESTServer(
            self.host,
            self.max_body,
            self.inference_logger,
            "kserve.model_server:app",
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
        )
        self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = _GRPCServer(
                self.host,
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                kwargs=vars(kserve.model_server.args),
                grace_period=self.grace_period,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


class _GRPCServer(GRPCServer):
    def __init__(self, host: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._host = host

    async def start(self, max_workers: int) -> None:
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
            options=[
                ("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
                ("grpc.max_receive_message_length", self._kwargs.get("grpc_max_receive_message_length")),
            ],
        )
        servicer = InferenceServicer(self._data_plane, self._model_repository_extension)
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        self._server.add_insecure_port(f"{self._host}:{self._port}")
        await self._server.start()
        await self._server.wait_for_termination()


class _RESTServer(RESTServer):
    def __init__(self, host: str, max_body: int, inference_logger: InferenceLogger | None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.host = host  # read by uvicorn only when it binds, after this
        self.max_body = max_body
        self.inference_logger = inference_logger

    def _register_endpoints(self, app: FastAPI) -> None:
        # registered first, so they answer before kserve's routes of the same paths
        app.add_api_route(
            "/v2/models/{model_name}/infer", self.v2_infer, methods=["POST"], response_model=None
        )
        app.add_api_route(
            "/v1/models/{model_name}:predict", self.v1_predict, methods=["POST"], response_model=None
        )
        super()._register_endpoints(app)

    def _add_middlewares(self, app: FastAPI) -> None:
        super()._add_middlewares(app)
        app.add_middleware(BodyLimit, max_bytes=self.max_body)
        if self.inference_logger:  # added last, so outermost: it also sees the body limit's 413
            app.add_middleware(InferenceLogMiddleware, inference_logger=self.inference_logger)

    def _add_exception_handlers(self, app: FastAPI) -> None:
        super()._add_exception_handlers(app)
        app.add_exception_handler(PayloadTooLarge, _payload_too_large)

    async def v2_infer(self, request: Request, model_name: str) -> Response:
        await self._check_ready(model_name)
        headers = dict(request.headers)
        infer_request = decode_v2(await request.body(), headers.get(HEADER_LENGTH), model_name)
        response, _ = await self.dataplane.infer(
            model_name=model_name, request=infer_request, headers=headers
        )
        body, json_length = response.to_rest()
        if json_length is None:
            return _json(body)
        return Response(
            body, media_type="application/octet-stream", headers={HEADER_LENGTH: str(json_length)}
        )

    async def v1_predict(self, request: Request, model_name: str) -> Response:
        await self._check_ready(model_name)
        payload = loads_json(await request.body(), "request body")
        response, _ = await self.dataplane.infer(
            model_name=model_name, request=payload, headers=dict(request.headers)
        )
        return _json(response)

    async def _check_ready(self, model_name: str) -> None:
        if not await self.dataplane.model_ready(model_name, True):  # raises ModelNotFound (404) if unknown
            raise ModelNotReady(model_name)


class PayloadTooLarge(Exception):
    def __init__(self, received: int, limit: int) -> None:
        super().__init__(
            f"request body: more than {limit} bytes (got {received} so far); the limit is {limit}"
        )


async def _payload_too_large(_: Request, err: PayloadTooLarge) -> Response:
    return _json({"error": str(err)}, 413)


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, from ``Content-Length`` before reading
    anything, else as soon as the streamed chunks pass the limit.

    Starlette's own RequestBodyLimitMiddleware would answer a bare "Request Entity Too Large"; this one
    says which limit the body broke."""

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            message = (
                f"request body: Content-Length {int(declared)} exceeds the limit of {self.max_bytes} bytes"
            )
            await _json({"error": message}, 413)(scope, receive, send)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(received, self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


def loads_json(body: bytes, what: str) -> Any:
    """Parse JSON; InvalidInput naming ``what`` and where it breaks.

    orjson first (fast); on failure the standard library, which also reads the NaN / Infinity literals
    numpy-minded clients send, so that those reach the schema check and get its specific message.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise InvalidInput(f"{what}: malformed JSON: {err}") from None


def decode_v2(body: bytes, header_length: str | None, model_name: str) -> InferRequest:
    """An Open Inference Protocol v2 REST body (JSON, or JSON header + binary tensors) -> InferRequest
    whose inputs hold numpy arrays; InvalidInput naming the field and the problem."""
    if header_length is None:
        document, binary = loads_json(body, "request body"), b""
    else:
        length = _header_length(header_length, len(body))
        document, binary = loads_json(body[:length], "request JSON header"), memoryview(body)[length:]
    if not isinstance(document, dict):
        raise InvalidInput(
            f"request body: must be a JSON object with 'inputs', got {type(document).__name__}"
        )
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("inputs: must be a non-empty list of tensors")
    decoded, offset = [], 0
    for index, tensor in enumerate(inputs):
        infer_input, offset = _decode_tensor(index, tensor, binary, offset)
        decoded.append(infer_input)
    if offset != len(binary):
        raise InvalidInput(
            f"binary data: {len(binary)} bytes follow the JSON header but the inputs' "
            f"binary_data_size add up to {offset}"
        )
    request_id, parameters = document.get("id"), document.get("parameters")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"id: must be a string, got {type(request_id).__name__}")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput(f"parameters: must be an object, got {type(parameters).__name__}")
    return InferRequest(
        model_name=model_name,
        infer_inputs=decoded,
        request_id=request_id,
        parameters=parameters,
        request_outputs=_requested_outputs(document.get("outputs")),
    )


def _header_length(value: str, body_length: int) -> int:
    if not value.strip().isdigit():
        raise InvalidInput(f"{HEADER_LENGTH}: must be a non-negative integer, got {value!r}")
    length = int(value)
    if not 0 < length <= body_length:
        raise InvalidInput(f"{HEADER_LENGTH}: {length} is outside the body of {body_length} bytes")
    return length


def _decode_tensor(
    index: int, tensor: Any, binary: memoryview | bytes, offset: int
) -> tuple[InferInput, int]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise InvalidInput(f"{where}: must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}.name: must be a non-empty string")
    shape, datatype = tensor.get("shape"), tensor.get("datatype")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_RANK
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInput(
            f"{name}: shape must be a list of at most {MAX_RANK} non-negative integers, got {shape!r}"
        )
    dtype = to_np_dtype(datatype) if isinstance(datatype, str) else None
    if dtype is None or datatype in ("BYTES", "FP16"):
        raise InvalidInput(f"{name}: unsupported datatype {datatype!r}")
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput(f"{name}: parameters must be an object")
    if "data" in tensor:
        array = _json_array(name, tensor["data"], dtype)
        if array.size != count:
            raise InvalidInput(f"{name}: data has {array.size} values but shape {shape} needs {count}")
    elif "binary_data_size" in parameters:
        size = parameters["binary_data_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(f"{name}: binary_data_size must be a non-negative integer, got {size!r}")
        if size != count * dtype.itemsize:
            raise InvalidInput(
                f"{name}: binary_data_size {size} does not match shape {shape} of {datatype} "
                f"({count * dtype.itemsize} bytes)"
            )
        if offset + size > len(binary):
            raise InvalidInput(
                f"{name}: binary_data_size {size} at byte {offset} runs past the {len(binary)} binary bytes"
            )
        array = np.frombuffer(binary, dtype, count, offset)
        offset += size
    else:
        raise InvalidInput(f"{name}: has neither 'data' nor parameters.binary_data_size")
    return InferInput(name, shape, datatype, data=array.reshape(shape)), offset


def _json_array(name: str, data: Any, dtype: np.dtype) -> np.ndarray:
    if not isinstance(data, list):
        raise InvalidInput(f"{name}: data must be a list of numbers, got {type(data).__name__}")
    try:
        array = np.asarray(data)
    except ValueError as err:  # ragged nesting
        raise InvalidInput(f"{name}: data is not a rectangular array ({err})") from None
    if array.dtype.kind not in "biuf":
        raise InvalidInput(f"{name}: data must hold only numbers, got {array.dtype.kind!r} values")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf; the schema refuses it
        return array.astype(dtype, copy=False).reshape(-1)


def _requested_outputs(outputs: Any) -> list[RequestedOutput] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) and isinstance(o.get("parameters") or {}, dict)
        for o in outputs
    ):
        raise InvalidInput("outputs: must be a list of objects with a name and optional parameters")
    return [RequestedOutput(name=o["name"], parameters=o.get("parameters")) for o in outputs] or None
