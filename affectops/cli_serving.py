"""``affectops serve``: the KServe model server locally, TorchServe archives, InferenceService manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from core.settings import load_settings
from serving.batching import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_WAIT_MS


class _StartByDefault(TyperGroup):
    """``affectops serve NAME@ALIAS`` means ``affectops serve start NAME@ALIAS``."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().resolve_command(ctx, args)


serve_app = typer.Typer(
    cls=_StartByDefault,
    help="Serving: `serve NAME@ALIAS` runs the KServe model server on loopback; `serve package` builds a "
    "TorchServe model store; `serve deploy` writes (or applies) the InferenceService.",
    no_args_is_help=True,
)
Ref = Annotated[
    str, typer.Argument(help="NAME@ALIAS or NAME/VERSION in the MLflow registry (NAME = family).")
]


def _fail(message: str):
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME@champion`` (or ``models:/NAME@champion``) -> (family, ``models:/NAME@champion``)."""
    from core.registry import parse_ref as parse_registry_ref
    from models import DEFAULT_FAMILY, get_family

    try:
        found = parse_registry_ref(ref if ref.startswith("models:/") else f"models:/{ref}")
    except ValueError:
        _fail(f"{ref!r} is not NAME@ALIAS or NAME/VERSION (e.g. {DEFAULT_FAMILY}@champion)")
    try:
        get_family(found.name)
    except ValueError as err:
        _fail(f"{ref}: {err}")
    return found.name, str(found)


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
    max_batch_size: Annotated[
        int, typer.Option(help="Most concurrent requests in one forward pass (1: no batching).")
    ] = DEFAULT_MAX_BATCH_SIZE,
    max_batch_wait_ms: Annotated[
        float,
        typer.Option(
            help="Longest a queued request waits for its batch to fill (an idle model never waits)."
        ),
    ] = DEFAULT_MAX_WAIT_MS,
) -> None:
    """Serve a registered model with the KServe model server (v1, v2 REST + binary, v2 gRPC)."""
    from serving.batching import BatchPolicy
    from serving.server import serve

    family, uri = parse_ref(ref)
    try:
        batching = BatchPolicy(max_batch_size, max_batch_wait_ms)
        serve(
            family,
            uri,
            host=host,
            http_port=http_port,
            grpc_port=grpc_port,
            log_url=log_url,
            batching=batching,
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))


@serve_app.command("transformer")
def serve_transformer_cmd(
    predictor_host: Annotated[str, typer.Option(help="HOST:PORT of the predictor (v2 REST).")],
    encoder_weights: Annotated[
        str | None,
        typer.Option(
            "--encoder-weights", "--weights", help="The preprocessor's weights: a local path or s3:// URI."
        ),
    ] = None,
    family: Annotated[
        str | None, typer.Option(help="Family whose raw media to take (default: models.DEFAULT_FAMILY).")
    ] = None,
    model_name: Annotated[
        str | None, typer.Option(help="The predictor's model name (default: the family).")
    ] = None,
    http_port: Annotated[int, typer.Option(help="REST port.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    allow_random_weights: Annotated[
        bool,
        typer.Option("--allow-random-weights", help="Start without weights (features carry nothing)."),
    ] = False,
) -> None:
    """The raw-media endpoint (a KServe transformer): video or other raw media in, the family's
    raw-media preprocessing (its spec's serve.media), then the predictor."""
    from serving.transformer import family_media
    from serving.transformer_server import serve_transformer

    try:
        family, _ = family_media(family)
        serve_transformer(
            name=model_name or family,
            predictor_host=predictor_host,
            weights=encoder_weights,
            family=family,
            host=host,
            http_port=http_port,
            allow_random_weights=allow_random_weights,
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))


@serve_app.command("package")
def serve_package(
    ref: Ref,
    out: Annotated[Path, typer.Option(help="Directory for config/config.properties and model-store/.")],
    model_name: Annotated[str | None, typer.Option(help="Endpoint name (default: the family).")] = None,
    batch_size: Annotated[
        int, typer.Option(help="TorchServe's batch_size: most requests in one forward pass (1: none).")
    ] = 32,
    max_batch_delay_ms: Annotated[
        int, typer.Option(help="TorchServe's max_batch_delay: longest a batch waits to fill, in ms.")
    ] = 5,
) -> None:
    """Build a TorchServe .mar in KServe's pytorch-runtime layout (the handler's own v2 envelope, TorchServe
    batching, token auth on)."""
    from serving.torchserve.package import build_model_store

    family, uri = parse_ref(ref)
    try:
        store = build_model_store(
            family,
            uri,
            out,
            settings=load_settings(),
            model_name=model_name,
            batch_size=batch_size,
            max_batch_delay_ms=max_batch_delay_ms,
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    typer.echo(f"model store: {store} (upload it to the storageUri of a pytorch-format InferenceService)")


@serve_app.command("deploy")
def serve_deploy(
    ref: Ref,
    out: Annotated[Path | None, typer.Option(help="Write the InferenceService YAML here.")] = None,
    runtime: Annotated[str, typer.Option(help="kserve (platform image, default) or torchserve.")] = "kserve",
    gpu: Annotated[bool, typer.Option("--gpu", help="One GPU on the GPU node pool.")] = False,
    canary_percent: Annotated[
        int | None, typer.Option(help="Traffic share for this version while it replaces the champion.")
    ] = None,
    min_replicas: Annotated[int, typer.Option(help="Autoscaling lower bound.")] = 1,
    max_replicas: Annotated[int, typer.Option(help="Autoscaling upper bound.")] = 3,
    scale_target: Annotated[int, typer.Option(help="Target concurrent requests per replica.")] = 8,
    model_storage_uri: Annotated[
        str | None, typer.Option(help="torchserve only: s3:// prefix of the `serve package` output.")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="Cluster profile of pipelines/configs/cluster.yaml.")
    ] = None,
    video_encoder_weights: Annotated[
        str | None,
        typer.Option(help="s3:// weights of the family's raw-media preprocessor: adds the transformer."),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Create or patch it on the current cluster.")
    ] = False,
    max_batch_size: Annotated[
        int, typer.Option(help="kserve only: most concurrent requests in one forward pass (1: none).")
    ] = DEFAULT_MAX_BATCH_SIZE,
    max_batch_wait_ms: Annotated[
        float, typer.Option(help="kserve only: longest a queued request waits for its batch to fill.")
    ] = DEFAULT_MAX_WAIT_MS,
) -> None:
    """Resolve the registry reference to its artifact and write (or apply) the InferenceService.

    KServe cannot resolve registry aliases itself: this pins the resolved version and its S3 URI.
    """
    from pipelines.cluster import load_cluster
    from serving.batching import BatchPolicy
    from serving.deploy import build_inference_service, deploy, resolve_model

    family, uri = parse_ref(ref)
    if runtime not in ("kserve", "torchserve"):
        _fail(f"--runtime must be kserve or torchserve, got {runtime!r}")
    settings = load_settings()
    try:
        cluster = load_cluster(profile)
        resolved = resolve_model(uri, settings, artifacts_destination=cluster.mlflow_artifacts)
        isvc = build_inference_service(
            resolved,
            family=family,
            cluster=cluster,
            runtime=runtime,
            gpu=gpu,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            scale_target=scale_target,
            canary_percent=canary_percent,
            logger_url=cluster.sink_url,
            settings=settings,
            model_storage_uri=model_storage_uri,
            video_encoder_weights=video_encoder_weights,
            batching=BatchPolicy(max_batch_size, max_batch_wait_ms),
        )
        text = deploy(isvc, apply=apply, out=out)
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    if out is None and not apply:
        typer.echo(text)
    else:
        typer.echo(f"{family} version {resolved.version} -> {out or ''}{' (applied)' if apply else ''}")
