"""kserve's ModelServer bound to one host, with the platform's REST additions; both servers run on it.

kserve 0.21 binds REST to ``0.0.0.0`` and gRPC to ``[::]`` with no option to change it (RESTServer
hard-codes uvicorn's host, GRPCServer its listen address), so the two servers are subclassed here.
The REST app gets, on top of kserve's:

- a body-size limit (413 from ``Content-Length`` before any byte is read, or while streaming);
- its own v2 ``infer`` and v1 ``predict`` routes in front of kserve's, speaking ``serving.v2``: they
  decode straight to numpy (kserve's v2 route validates 115k floats with pydantic, turns binary tensors
  into Python lists and binary ``BYTES`` into UTF-8 text) and name the field and the problem for every
  malformed body, JSON or binary header;
- optionally the local inference logger (``serving.inference_log``).

The predictor (``serving.server``) and the raw-media transformer (``serving.transformer_server``) both
run on ``HostModelServer``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from concurrent import futures
from typing import Any

import kserve
import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from grpc import aio
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse, RequestedOutput
from kserve.protocol.rest.server import RESTServer

from serving import v2
from serving.inference_log import InferenceLogger, InferenceLogMiddleware


class HostModelServer(kserve.ModelServer):
    """kserve's ModelServer with its servers bound to ``host`` and the REST additions above."""

    def __init__(
        self, host: str, max_body: int, inference_logger: InferenceLogger | None = None, **kwargs
    ) -> None:
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
            FASTAPI_APP_IMPORT_STRING,
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


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every server here takes: where to bind the REST server."""
    parser.add_argument("--host", default="127.0.0.1", help="address the servers bind (default: loopback)")
    parser.add_argument("--http-port", "--http_port", type=int, default=8080)


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
        infer_request = decode_request(await request.body(), headers.get(v2.HEADER_LENGTH), model_name)
        response, _ = await self.dataplane.infer(
            model_name=model_name, request=infer_request, headers=headers
        )
        body, json_length = encode_response(response, infer_request)
        if json_length is None:
            return Response(body, media_type="application/json")
        return Response(
            body, media_type="application/octet-stream", headers={v2.HEADER_LENGTH: str(json_length)}
        )

    async def v1_predict(self, request: Request, model_name: str) -> Response:
        await self._check_ready(model_name)
        try:
            payload = v2.loads_json(await request.body(), "request body")
        except v2.V2Error as err:
            raise InvalidInput(str(err)) from None
        response, _ = await self.dataplane.infer(
            model_name=model_name, request=payload, headers=dict(request.headers)
        )
        return _json(response)

    async def _check_ready(self, model_name: str) -> None:
        if not await self.dataplane.model_ready(model_name, True):  # raises ModelNotFound (404) if unknown
            raise ModelNotReady(model_name)


def decode_request(body: bytes, header_length: str | None, model_name: str) -> InferRequest:
    """A v2 REST body -> kserve's InferRequest whose inputs hold the decoded numpy arrays."""
    try:
        document, inputs = v2.decode_request(body, header_length)
    except v2.V2Error as err:
        raise InvalidInput(str(err)) from None
    outputs = document.get("outputs")
    return InferRequest(
        model_name=model_name,
        infer_inputs=[InferInput(t.name, list(t.shape), t.datatype, data=t.data) for t in inputs],
        request_id=document.get("id"),
        parameters=document.get("parameters"),
        request_outputs=[RequestedOutput(o["name"], o.get("parameters")) for o in outputs or ()] or None,
    )


def encode_response(response: InferResponse, request: InferRequest) -> tuple[bytes, int | None]:
    """kserve's InferResponse as a v2 REST body, with the outputs and the binary form the request asked for
    (``outputs``, each one's ``binary_data``, else the request's ``binary_data_output``)."""
    by_name = {output.name: output for output in response.outputs}
    wanted = request.request_outputs or [RequestedOutput(name) for name in by_name]
    binary_default = bool((request.parameters or {}).get("binary_data_output", False))
    tensors, binary = [], set()
    for requested in wanted:
        output = by_name.get(requested.name)
        if output is None:
            raise InvalidInput(
                f"outputs: unexpected output {requested.name!r}; the model returns {', '.join(by_name)}"
            )
        data = output.data if isinstance(output.data, np.ndarray) else output.as_numpy()
        tensors.append(v2.Tensor(output.name, output.datatype, tuple(output.shape), data))
        flag = requested.binary_data
        if binary_default if flag is None else flag:
            binary.add(output.name)
    document = {"id": response.id, "model_name": response.model_name, "model_version": response.model_version}
    if response.parameters:
        document["parameters"] = dict(response.parameters)
    try:
        return v2.encode(document, "outputs", tensors, binary)
    except v2.V2Error as err:
        raise InvalidInput(str(err)) from None


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
