"""Serve the raw-media transformer (``serving.transformer``) of a family on ``host`` (loopback by default).

``python -m serving.transformer_server --model-name NAME --predictor-host HOST:PORT [--family F]
[--encoder-weights PATH|s3://...] [--allow-random-weights] [--media-config KEY=VALUE ...]
[--host H] [--http-port P] [--max-input-bytes B]``

REST v2 only (no gRPC: encoded media travel as binary REST tensors), on ``serving.model_server``'s
server, whose decoder reads binary ``BYTES`` tensors as the bytes they are. ``--family`` defaults to
the headline family (``models.DEFAULT_FAMILY``). Aliases: ``--weights`` for ``--encoder-weights``,
``--max-clip-bytes`` for ``--max-input-bytes``, ``--encoder-depth N`` for ``--media-config depth=N``.
"""

from __future__ import annotations

import argparse

from kserve.logging import logger

from models.common.config import apply_overrides, parse_assignments
from serving.model_server import HostModelServer, add_server_arguments
from serving.transformer import MediaTransformer, family_media


def serve_transformer(
    *,
    name: str,
    predictor_host: str,
    weights: str | None,
    family: str | None = None,
    host: str = "127.0.0.1",
    http_port: int = 8080,
    protocol: str = "v2",
    media_config: dict[str, str] | None = None,
    allow_random_weights: bool = False,
    max_input_bytes: int | None = None,
) -> None:
    """Load the family's preprocessor, then serve ``name`` in front of ``predictor_host`` until SIGTERM.

    ``name`` must be the predictor's model name; ``media_config`` overrides fields of the family's
    preprocessor config; ``weights`` None is refused by the family's loader unless
    ``allow_random_weights`` (tests only).
    """
    if protocol != "v2":
        raise ValueError(f"protocol: the media transformer speaks v2 only, got {protocol!r}")
    family, media = family_media(family)
    config = apply_overrides(media.config, media_config) if media_config else media.config
    model = MediaTransformer(
        name,
        predictor_host,
        media,
        weights,
        config=config,
        allow_random_weights=allow_random_weights,
        max_input_bytes=max_input_bytes,
    )
    model.load()
    server = HostModelServer(host, model.max_request_bytes, http_port=http_port, workers=1, enable_grpc=False)
    logger.info(
        "serving %s transformer %s on http://%s:%d -> predictor %s",
        family,
        name,
        host,
        http_port,
        predictor_host,
    )
    server.start([model])


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving.transformer_server", description=__doc__)
    parser.add_argument("--model-name", "--model_name", required=True, help="the predictor's model name")
    parser.add_argument(
        "--predictor-host", "--predictor_host", required=True, help="HOST:PORT of the predictor's REST server"
    )
    parser.add_argument("--family", default=None, help="a family of models.FAMILIES that has media")
    parser.add_argument(
        "--encoder-weights",
        "--weights",
        default=None,
        help="the preprocessor's (encoder's) weights: local path or s3:// prefix",
    )
    parser.add_argument(
        "--allow-random-weights", action="store_true", help="start without weights (tests only)"
    )
    parser.add_argument(
        "--media-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of the family's preprocessor config (repeatable)",
    )
    parser.add_argument("--encoder-depth", type=int, default=None, help="same as --media-config depth=N")
    add_server_arguments(parser)
    parser.add_argument(
        "--max-input-bytes",
        "--max-clip-bytes",
        dest="max_input_bytes",
        type=int,
        default=None,
        help="limit per raw input (default: the family's)",
    )
    # KServe's controller may append the predictor's protocol; the platform's predictor serves v1 and
    # v2 alike and the transformer always calls its v2 route, so the value changes nothing
    parser.add_argument("--predictor-protocol", "--predictor_protocol", default="v2", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    media_config = parse_assignments(args.media_config)
    if args.encoder_depth is not None:
        media_config["depth"] = str(args.encoder_depth)
    serve_transformer(
        name=args.model_name,
        predictor_host=args.predictor_host,
        weights=args.encoder_weights,
        family=args.family,
        host=args.host,
        http_port=args.http_port,
        media_config=media_config,
        allow_random_weights=args.allow_random_weights,
        max_input_bytes=args.max_input_bytes,
    )


if __name__ == "__main__":
    main()
