"""``python -m serving --family F --model-uri URI [--model-name N] [--host H] [--http-port P] [--grpc-port P]
[--log-url URL] [--max-body BYTES] [--max-batch-size N] [--max-batch-wait-ms MS]``: parse the
arguments and call ``serving.server.serve``."""

from __future__ import annotations

import argparse

from serving.batching import add_batching_arguments, batch_policy
from serving.model_server import add_server_arguments
from serving.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--family", required=True, help="a family of models.FAMILIES")
    parser.add_argument("--model-uri", required=True, help="local path, s3:// prefix or models:/NAME@ALIAS")
    parser.add_argument("--model-name", default=None, help="endpoint name (default: the family)")
    add_server_arguments(parser)
    parser.add_argument("--grpc-port", "--grpc_port", type=int, default=8081)
    parser.add_argument("--log-url", default=None, help="inference-log sink to post CloudEvents to")
    parser.add_argument("--max-body", type=int, default=None, help="request body limit in bytes")
    add_batching_arguments(parser)
    args = parser.parse_args(argv)
    serve(
        args.family,
        args.model_uri,
        name=args.model_name,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        log_url=args.log_url,
        max_body=args.max_body,
        batching=batch_policy(parser, args),
    )


if __name__ == "__main__":
    main()
