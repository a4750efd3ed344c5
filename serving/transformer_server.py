"""Serve the video-in transformer (``serving.transformer``) with KServe's ModelServer on loopback.

``python -m serving.transformer_server --model-name NAME --predictor-host HOST:PORT
[--encoder-weights PATH|s3://...] [--allow-random-weights] [--encoder-depth N] [--host H]
[--http-port P] [--max-clip-bytes B]``

REST v2 only (no gRPC: clips travel as binary REST tensors), on ``serving.model_server``'s server,
whose decoder reads binary ``BYTES`` tensors as the bytes they are.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from kserve.logging import logger

from components.featurize import MARLIN_SMALL
from models.common.marlin import MarlinConfig
from serving.core import ENVELOPE_BYTES
from serving.model_server import HostModelServer, add_server_arguments
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
    server = HostModelServer(
        host, 2 * max_clip_bytes + ENVELOPE_BYTES, http_port=http_port, workers=1, enable_grpc=False
    )
    logger.info(
        "serving transformer %s on http://%s:%d -> predictor %s", name, host, http_port, predictor_host
    )
    server.start([model])


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
    add_server_arguments(parser)
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
