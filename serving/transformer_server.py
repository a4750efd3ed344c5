"""Serve the video-in transformer (``serving.transformer``) with KServe's ModelServer on loopback.

``python -m serving.transformer_server --model-name NAME --predictor-host HOST:PORT
[--encoder-weights PATH|s3://...] [--allow-random-weights] [--encoder-depth N] [--host H]
[--http-port P] [--max-clip-bytes B]``

REST v2 only (no gRPC: clips travel as binary REST tensors). A binary request is decoded here:
kserve 0.21's v2 route turns binary ``BYTES`` tensors into UTF-8 text and fails on video, and
``serving.server``'s decoder takes numeric tensors only (it still decodes JSON bodies). The REST
server is bound to ``host`` (kserve hard-codes ``0.0.0.0``) and gets ``serving.server``'s body limit.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from dataclasses import replace

import kserve
import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InvalidInput, ModelNotReady
from kserve.logging import logger
from kserve.protocol.infer_type import InferInput, InferRequest, deserialize_bytes_tensor
from kserve.protocol.rest.server import RESTServer
from kserve.utils.numpy_codec import to_np_dtype

from components.featurize import MARLIN_SMALL
from models.common.marlin import MarlinConfig
from serving.core import ENVELOPE_BYTES
from serving.inference_log import HEADER_LENGTH
from serving.server import BodyLimit, PayloadTooLarge, decode_v2, loads_json
from serving.transformer import DEFAULT_MAX_CLIP_BYTES, VideoTransformer


def serve_transformer(
    *,
    name: str,
    predictor_host: str,
    encoder_weights: str | None,
    host: str = "127.0.0.1",
    http_port: int = 8080,
    protocol: str = "v2",
    encoder_config: MarlinConfig = MARLIN_SMALL,
    allow_random_weights: bool = False,
    max_clip_bytes: int = DEFAULT_MAX_CLIP_BYTES,
) -> None:
    """Load the face aligner and encoder, then serve ``name`` in front of ``predictor_host`` until SIGTERM.

    ``name`` must be the predictor's model name; ``encoder_weights`` None refuses to start unless
    ``allow_random_weights`` (tests only: random features carry no facial information).
    """
    if protocol != "v2":
        raise ValueError(f"protocol: the video transformer speaks v2 only, got {protocol!r}")
    model = VideoTransformer(
        name,
        predictor_host,
        encoder_weights,
        encoder_config=encoder_config,
        allow_random_weights=allow_random_weights,
        max_clip_bytes=max_clip_bytes,
    )
    model.load()
    # two clips and the JSON header around them
    server = TransformerServer(host, 2 * max_clip_bytes + ENVELOPE_BYTES, http_port=http_port, workers=1)
    logger.info(
        "serving transformer %s on http://%s:%d -> predictor %s", name, host, http_port, predictor_host
    )
    server.start([model])


class TransformerServer(kserve.ModelServer):
    """kserve's ModelServer, REST only, bound to ``host``, with a body-size limit."""

    def __init__(self, host: str, max_body: int, **kwargs) -> None:
        super().__init__(enable_grpc=False, **kwargs)
        self.host = host
        self.max_body = max_body

    def start(self, models: list[kserve.Model]) -> None:
        # ModelServer.start, single-process branch without gRPC, with our REST server in place of kserve's
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = _RESTServer(
            self.host,
            self.max_body,
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
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


class _RESTServer(RESTServer):
    def __init__(self, host: str, max_body: int, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.config.host = host  # read by uvicorn only when it binds, after this
        self.max_body = max_body

    def _register_endpoints(self, app: FastAPI) -> None:
        # registered first, so it answers before kserve's route of the same path
        app.add_api_route(
            "/v2/models/{model_name}/infer", self.v2_infer, methods=["POST"], response_model=None
        )
        super()._register_endpoints(app)

    async def v2_infer(self, request: Request, model_name: str) -> Response:
        if not await self.dataplane.model_ready(model_name, True):  # raises ModelNotFound (404) if unknown
            raise ModelNotReady(model_name)
        body, header_length = await request.body(), request.headers.get(HEADER_LENGTH)
        if header_length is None:
            infer_request = decode_v2(body, None, model_name)
        else:
            infer_request = decode_binary(body, header_length, model_name)
        response, _ = await self.dataplane.infer(
            model_name=model_name, request=infer_request, headers=dict(request.headers)
        )
        content, json_length = response.to_rest()
        if json_length is None:
            return JSONResponse(content)
        return Response(
            content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(json_length)}
        )

    def _add_middlewares(self, app: FastAPI) -> None:
        super()._add_middlewares(app)
        app.add_middleware(BodyLimit, max_bytes=self.max_body)

    def _add_exception_handlers(self, app: FastAPI) -> None:
        super()._add_exception_handlers(app)
        app.add_exception_handler(PayloadTooLarge, _payload_too_large)


async def _payload_too_large(_: Request, err: PayloadTooLarge) -> JSONResponse:
    return JSONResponse({"error": str(err)}, status_code=413)


def decode_binary(body: bytes, header_length: str, model_name: str) -> InferRequest:
    """A v2 JSON header + binary tensors -> InferRequest of numpy inputs (``BYTES`` as objects of bytes)."""
    if not header_length.strip().isdigit() or not 0 < int(header_length) <= len(body):
        raise InvalidInput(
            f"{HEADER_LENGTH}: {header_length!r} is not a length within the {len(body)}-byte body"
        )
    length = int(header_length)
    document = loads_json(body[:length], "request JSON header")
    inputs = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("inputs: must be a non-empty list of tensors")
    decoded, offset = [], length
    for index, tensor in enumerate(inputs):
        tensor = tensor if isinstance(tensor, dict) else {}
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if not isinstance(name, str) or not isinstance(shape, list) or not isinstance(datatype, str):
            raise InvalidInput(f"inputs[{index}]: needs a name, a shape and a datatype")
        if not isinstance(size, int) or not 0 <= size <= len(body) - offset:
            raise InvalidInput(f"{name}: binary_data_size {size!r} does not fit the {len(body)}-byte body")
        raw = body[offset : offset + size]
        offset += size
        dtype = to_np_dtype(datatype)
        if dtype is None:
            raise InvalidInput(f"{name}: unsupported datatype {datatype!r}")
        try:
            if datatype == "BYTES":
                array = deserialize_bytes_tensor(raw).reshape(shape)
            else:
                array = np.frombuffer(raw, dtype, math.prod(shape)).reshape(shape)
        except (ValueError, TypeError, IndexError) as err:
            raise InvalidInput(f"{name}: binary data does not match {datatype} {shape}: {err}") from None
        decoded.append(InferInput(name, shape, datatype, data=array))
    parameters = document.get("parameters")
    return InferRequest(
        model_name=model_name,
        infer_inputs=decoded,
        request_id=document.get("id") if isinstance(document.get("id"), str) else None,
        parameters=parameters if isinstance(parameters, dict) else None,
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving.transformer_server", description=__doc__)
    parser.add_argument("--model-name", "--model_name", required=True, help="the predictor's model name")
    parser.add_argument(
        "--predictor-host", "--predictor_host", required=True, help="HOST:PORT of the predictor's REST server"
    )
    parser.add_argument(
        "--encoder-weights", default=None, help="MARLIN checkpoint: local path or s3:// prefix"
    )
    parser.add_argument(
        "--allow-random-weights", action="store_true", help="start without weights (tests only)"
    )
    parser.add_argument(
        "--encoder-depth", type=int, default=MARLIN_SMALL.depth, help="transformer blocks (12: Marlin-Small)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address the REST server binds (default: loopback)"
    )
    parser.add_argument("--http-port", "--http_port", type=int, default=8080)
    parser.add_argument("--max-clip-bytes", type=int, default=DEFAULT_MAX_CLIP_BYTES)
    # KServe's controller may append the predictor's protocol; the platform's predictor serves v1 and
    # v2 alike and the transformer always calls its v2 route, so the value changes nothing
    parser.add_argument("--predictor-protocol", "--predictor_protocol", default="v2", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    serve_transformer(
        name=args.model_name,
        predictor_host=args.predictor_host,
        encoder_weights=args.encoder_weights,
        host=args.host,
        http_port=args.http_port,
        encoder_config=replace(MARLIN_SMALL, depth=args.encoder_depth),
        allow_random_weights=args.allow_random_weights,
        max_clip_bytes=args.max_clip_bytes,
    )


if __name__ == "__main__":
    main()
