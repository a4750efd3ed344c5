"""``python -m serving --family F --model-uri URI [--model-name N] [kserve's own args]``: parse and serve."""

from __future__ import annotations

import argparse

import kserve
from kserve.model_server import parser as kserve_parser

from serving.kserve_model import FamilyModel


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(parents=[kserve_parser], description=__doc__)
    parser.add_argument("--family", required=True, help="a family of models.FAMILIES")
    parser.add_argument("--model-uri", required=True, help="local path, s3:// prefix or models:/NAME@ALIAS")
    parser.add_argument("--model-name", default=None, help="endpoint name (default: the family)")
    args, _ = parser.parse_known_args(argv)
    model = FamilyModel(args.model_name or args.family, args.family, args.model_uri)
    model.load()
    kserve.ModelServer().start([model])


if __name__ == "__main__":
    main()
