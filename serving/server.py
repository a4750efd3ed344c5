"""Serve one model of a family on ``host`` (loopback by default): REST v1 + v2, v2 gRPC.

The servers, their body limit and their v2 decoding are ``serving.model_server``'s; this adds the
family's predictor (``serving.kserve_model``) and, optionally, the local inference logger.
"""

from __future__ import annotations

from kserve.logging import logger  # configured by ModelServer, unlike a logger of our own

from core.settings import Settings, load_settings
from serving.batching import BatchPolicy
from serving.core import max_body_bytes
from serving.inference_log import InferenceLogger, Source
from serving.kserve_model import FamilyModel
from serving.model_server import HostModelServer


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
    batching: BatchPolicy | None = None,
) -> None:
    """Load ``model_uri`` and serve it as ``name`` (default: the family) until SIGINT / SIGTERM.

    ``max_body`` (bytes) defaults to the largest valid request as JSON text (``core.max_body_bytes``);
    ``log_url`` sends every inference to a sink as the KServe agent's logger would; ``batching``
    (default ``BatchPolicy()``) gathers concurrent requests into one forward pass.
    """
    settings = settings or load_settings()
    model = FamilyModel(name or family, family, model_uri, settings, batching)
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
    policy = model.batcher.policy
    logger.info(
        "serving %s (%s, version %s) on %s, batches of up to %d waiting up to %g ms",
        *(model.name, family, model.model_version, where, policy.max_batch_size, policy.max_wait_ms),
    )
    try:
        server.start([model])
    finally:
        if inference_logger:
            inference_logger.close()
