"""``affectops serve``: the KServe model server locally, TorchServe archives, InferenceService manifests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from affectops.settings import load_settings

_REF = re.compile(
    r"^(?:models:/)?(?P<name>[A-Za-z0-9_.-]+)(?:@(?P<alias>[A-Za-z0-9_.-]+)|/(?P<version>\d+))$"
)


class _StartByDefault(TyperGroup):
    """``affectops serve NAME@ALIAS`` means ``affectops serve start NAME@ALIAS``."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().resolve_command(ctx, args)


serve_app = typer.Typer(
    cls=_StartByDefault,
    help="Serving: `serve NAME@ALIAS` runs the KServe model server on loopback; `serve package` builds a "
    "TorchServe model store; `serve manifest` writes the InferenceService.",
    no_args_is_help=True,
)
Ref = Annotated[
    str, typer.Argument(help="NAME@ALIAS or NAME/VERSION in the MLflow registry (NAME = family).")
]


def _fail(message: str):
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def parse_ref(ref: str) -> tuple[str, str]:
    """``hearing_loss@champion`` -> (family, ``models:/hearing_loss@champion``)."""
    from models import get_family

    found = _REF.match(ref)
    if not found:
        _fail(f"{ref!r} is not NAME@ALIAS or NAME/VERSION (e.g. hearing_loss@champion)")
    name = found["name"]
    try:
        get_family(name)
    except ValueError as err:
        _fail(f"{ref}: {err}")
    suffix = f"@{found['alias']}" if found["alias"] else f"/{found['version']}"
    return name, f"models:/{name}{suffix}"


@serve_app.command("start")
def serve_start(
    ref: Ref,
    http_port: Annotated[int, typer.Option(help="REST port (v1 and v2).")] = 8080,
    grpc_port: Annotated[int, typer.Option(help="v2 gRPC port.")] = 8081,
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean it.")] = "127.0.0.1",
    log_url: Annotated[
        str | None,
        typer.Option(help="Send every inference to this sink (default: none; see `monitor sink`)."),
    ] = None,
) -> None:
    """Serve a registered model with the KServe model server (v1, v2 REST + binary, v2 gRPC)."""
    from serving.server import serve

    family, uri = parse_ref(ref)
    try:
        serve(family, uri, host=host, http_port=http_port, grpc_port=grpc_port, log_url=log_url)
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))


@serve_app.command("package")
def serve_package(
    ref: Ref,
    out: Annotated[Path, typer.Option(help="Directory for config/config.properties and model-store/.")],
    model_name: Annotated[str | None, typer.Option(help="Endpoint name (default: the family).")] = None,
) -> None:
    """Build a TorchServe .mar in KServe's pytorch-runtime layout (KServe v2 envelope, token auth on)."""
    from serving.torchserve.package import build_model_store

    family, uri = parse_ref(ref)
    try:
        store = build_model_store(family, uri, out, settings=load_settings(), model_name=model_name)
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    typer.echo(f"model store: {store} (upload it to the storageUri of a pytorch-format InferenceService)")
