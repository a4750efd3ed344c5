"""The ``affectops`` command line: one subcommand group per area of the platform."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from affectops import default_family
from affectops.cli_monitoring import monitor_app
from affectops.cli_serving import serve_app
from core.settings import load_settings

app = typer.Typer(
    help="affectops: train, version, deploy and watch facial-expression models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data = typer.Typer(
    help="Datasets: synthesize, split, validate, version (DVC) and fetch cohorts.", no_args_is_help=True
)
app.add_typer(data, name="data")
registry = typer.Typer(
    help="MLflow model registry: register, gate and promote versions, list them, guard `champion`.",
    no_args_is_help=True,
)
app.add_typer(registry, name="registry")
pipeline_app = typer.Typer(
    help="Kubeflow pipelines: compile the IR YAML, run locally with kfp.local or on a KFP cluster.",
    no_args_is_help=True,
)
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(serve_app, name="serve")
app.add_typer(monitor_app, name="monitor")


Family = Annotated[
    str,
    typer.Option(
        help="Model family (see `models.FAMILIES`).",
        default_factory=default_family,
        show_default="models.DEFAULT_FAMILY",
    ),
]
Variant = Annotated[
    str | None, typer.Option(help="Model variant (the family config's `variant`; default: the paper's).")
]
Name = Annotated[str, typer.Argument(help="Registered model name (= its family, see `models.FAMILIES`).")]
Uri = Annotated[str, typer.Argument(help="Cohort directory or s3://bucket/prefix URI.")]


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def _family(name: str):
    from models import get_family

    try:
        return get_family(name)
    except ValueError as err:
        _fail(str(err))


@data.command("synth")
def data_synth(
    out: Annotated[str, typer.Option(help="Output directory or s3:// URI.")],
    family: Family,
    subjects: Annotated[int | None, typer.Option(help="Number of subjects (paper: 178).")] = None,
    session_minutes: Annotated[
        float | None, typer.Option(help="Mean session length in minutes (paper: ~51 of usable segments).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same cohort.")] = 0,
) -> None:
    """Write a synthetic cohort in the family's exact data format (defaults: the paper's scale)."""
    from dataclasses import replace

    from core.storage import is_s3, upload_dir

    spec = _family(family)
    config = replace(spec.data.synth_config(), seed=seed)
    if subjects is not None:
        config = replace(config, subjects=subjects)
    if session_minutes is not None:
        config = replace(config, session_seconds=(session_minutes * 55.0, session_minutes * 65.0))
    if not is_s3(out):
        spec.data.synthesize(config, Path(out))
        typer.echo(spec.data.format_summary(spec.data.summarize(Path(out))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        spec.data.synthesize(config, Path(tmp))
        files = upload_dir(Path(tmp), out, load_settings())
    typer.echo(f"wrote {files} files to {out}")


@data.command("featurize")
def data_featurize(
    recordings: Annotated[
        Path,
        typer.Argument(
            help="CSV naming each example's recorded media and labels (the family's recordings table)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="New dataset directory.")],
    family: Family,
    weights: Annotated[
        str | None,
        typer.Option(
            help="Encoder checkpoint: a file, or a local / s3:// directory holding one. Omit: random."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Recorded raw media (e.g. face videos) -> a new dataset in the family's format."""
    from core.storage import resolve_weights

    spec = _family(family)
    if spec.data.featurize is None:
        _fail(f"family {family} builds no dataset from recorded media; `data synth` writes a synthetic one")
    _log_progress()
    try:
        local = None if weights is None else resolve_weights(weights, load_settings())
        spec.data.featurize(recordings, out, local, weights_uri=weights, device=device)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        _fail(str(err))
    typer.echo(spec.data.format_summary(spec.data.summarize(out)))


@data.command("split")
def data_split(
    cohort: Annotated[Path, typer.Argument(help="Local cohort directory.")],
    family: Family,
    folds: Annotated[int, typer.Option(help="Number of folds (paper §4.2: 5).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the session shuffle.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Write the split cohort to this new directory instead.")
    ] = None,
) -> None:
    """Assign sessions (and so subjects) to subject-independent folds; writes the family's folds file."""
    from components.split import split_cohort

    _family(family)
    typer.echo(split_cohort(cohort, folds, seed, out, family=family))


@data.command("validate")
def data_validate(
    cohort: Uri,
    family: Family,
    docs_dir: Annotated[Path | None, typer.Option(help="Where to write GE Data Docs.")] = None,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Also write the result as JSON here.")
    ] = None,
) -> None:
    """Run the family's Great Expectations suites; exit 1 and list every failure if any."""
    from components.validate import validate_cohort
    from core.storage import materialize

    _family(family)  # an unknown family is a usage error, before any download
    settings = load_settings()
    result = validate_cohort(
        materialize(cohort, settings), docs_dir=docs_dir or settings.reports_dir / "data-docs", family=family
    )
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    for failure in result.failures:
        typer.secho(f"FAILED {failure.describe()}", fg="red")
    status = "passed" if result.success else f"failed ({len(result.failures)} of {result.checked})"
    typer.echo(f"validation {status}; {result.checked} expectations checked")
    typer.echo(f"data docs: {result.docs_index}")
    if not result.success:
        raise typer.Exit(1)


@data.command("summary")
def data_summary(cohort: Uri, family: Family) -> None:
    """Print subjects, segments, age groups, noise levels and folds of a cohort."""
    from core.storage import materialize

    spec = _family(family)
    typer.echo(spec.data.format_summary(spec.data.summarize(materialize(cohort, load_settings()))))


@data.command("version")
def data_version(
    cohort: Uri,
    name: Annotated[str, typer.Option(help="Dataset name in the DVC registry.")],
    remote: Annotated[str | None, typer.Option(help="DVC remote (default: settings).")] = None,
) -> None:
    """Version a dataset with DVC (its content hash) and push it to the remote."""
    from components.data_version import version_dataset
    from core.storage import materialize

    settings = load_settings()
    version = version_dataset(
        materialize(cohort, settings),
        name=name,
        remote=remote or settings.dvc_remote,
        repo=settings.dvc_repo,
        endpoint_url=settings.s3_endpoint_url,
    )
    typer.echo(json.dumps(version.to_dict(), indent=2))


@data.command("fetch")
def data_fetch(
    version: Annotated[str, typer.Argument(help="DVC content hash printed by `data version`.")],
    name: Annotated[str, typer.Option(help="Dataset name in the DVC registry.")],
    out: Annotated[Path, typer.Option(help="Directory to materialize the version into.")],
    remote: Annotated[str | None, typer.Option(help="DVC remote (default: settings).")] = None,
) -> None:
    """Fetch an exact dataset version back from the DVC remote."""
    from components.data_version import DatasetVersionNotFound, fetch_dataset

    settings = load_settings()
    try:
        path = fetch_dataset(
            version,
            name=name,
            remote=remote or settings.dvc_remote,
            out=out,
            repo=settings.dvc_repo,
            endpoint_url=settings.s3_endpoint_url,
        )
    except (DatasetVersionNotFound, ValueError) as err:
        _fail(str(err))
    typer.echo(path)


Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Config override key=value (repeatable), e.g. --set epochs=2."),
]
Device = Annotated[str, typer.Option(help="auto (GPU if present), cpu or cuda.")]


def _config(spec, variant: str | None, overrides: list[str] | None, seed: int | None):
    from models.common.config import apply_overrides, parse_assignments

    try:
        changes = parse_assignments(overrides or [])
        if variant is not None:
            changes["variant"] = variant
        if seed is not None:
            changes["seed"] = seed
        return apply_overrides(spec.train.config(), changes)
    except ValueError as err:
        _fail(str(err))


def _log_progress() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")


@app.command("train")
def train(
    data_uri: Annotated[str, typer.Option("--data", help="Split dataset directory or s3:// URI.")],
    family: Family,
    variant: Variant = None,
    overrides: Overrides = None,
    seed: Annotated[int | None, typer.Option(help="Seed of initial weights and data order.")] = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            "--holdout",
            "--holdout-fold",
            help="Fold (or fixed partition) to hold out and evaluate on; default: train on all of them.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (checkpoints, model, tracking).")] = None,
    device: Device = "auto",
    resume: Annotated[bool, typer.Option(help="Resume from the run directory's last checkpoint.")] = True,
    tracker: Annotated[
        str, typer.Option(help="local (RUN_DIR/tracking) or mlflow (a run in the family's experiment).")
    ] = "local",
) -> None:
    """Train a model; under `torchrun --nproc-per-node N --module affectops train ...` with DDP."""
    import os
    from contextlib import nullcontext

    from components.tracking import float_metrics, mlflow_run
    from core.storage import materialize
    from models.common.tracking import LocalTracker

    spec = _family(family)
    config = _config(spec, variant, overrides, seed)
    try:
        held_out = None if holdout is None else spec.data.partitions.holdout(holdout)
    except ValueError as err:
        _fail(str(err))
    settings = load_settings()
    run_dir = out or settings.home / "runs" / family / f"{config.variant or family}-seed{config.seed}"
    if tracker not in ("local", "mlflow"):
        _fail(f"--tracker must be local or mlflow, got {tracker!r}")
    _log_progress()
    data_dir = materialize(data_uri, settings)
    main_process = os.environ.get("RANK", "0") == "0"
    # under torchrun only rank 0 records; the other ranks never call their tracker
    if tracker == "mlflow" and main_process:
        tracking = mlflow_run(settings, experiment=family, run_name=run_dir.name, tags={"data": data_uri})
    else:
        tracking = nullcontext(LocalTracker(run_dir / "tracking"))
    with tracking as recorder:
        try:
            path = spec.train.train(
                config,
                data_dir,
                recorder,
                out_dir=run_dir,
                holdout=held_out,
                device=device,
                resume=resume,
            )
        except (ValueError, FileNotFoundError) as err:
            _fail(str(err))
        if not main_process:
            return
        typer.echo(f"model: {path}")
        if held_out is not None:
            scores = spec.evaluate.evaluate(spec.train.load(path), data_dir, held_out)
            (run_dir / "metrics.json").write_text(json.dumps(scores, indent=2))
            recorder.log_metrics(float_metrics(scores))
            recorder.log_artifact(run_dir / "metrics.json")
            typer.echo(json.dumps(scores, indent=2))


@app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Option(help="Model artifact written by `affectops train`.")],
    data_uri: Annotated[str, typer.Option("--data", help="Split dataset directory or s3:// URI.")],
    family: Family,
    fold: Annotated[
        str | None,
        typer.Option(help="Fold (or fixed partition) to evaluate on; default: the one the model held out."),
    ] = None,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Also write the metrics as JSON here.")
    ] = None,
) -> None:
    """The paper's metrics of a trained model on a held-out fold."""
    from core.storage import materialize

    spec = _family(family)
    try:
        held_out = None if fold is None else spec.data.partitions.holdout(fold)
        scores = spec.evaluate.evaluate(
            spec.train.load(model), materialize(data_uri, load_settings()), held_out
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(scores, indent=2))
    typer.echo(json.dumps(scores, indent=2))


@app.command("crossval")
def crossval(
    data_uri: Annotated[str, typer.Option("--data", help="Split dataset directory or s3:// URI.")],
    family: Family,
    variant: Variant = None,
    overrides: Overrides = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (paper §4.2: five).")] = "0,1,2,3,4",
    out: Annotated[Path | None, typer.Option(help="Directory for runs, summary and predictions.")] = None,
    device: Device = "auto",
) -> None:
    """The paper's protocol: subject-independent k-fold CV over seeds; mean ± std per metric."""
    from core.storage import materialize
    from models.common.tracking import LocalTracker

    spec = _family(family)
    config = _config(spec, variant, overrides, None)
    try:
        seed_list = tuple(int(part) for part in seeds.split(",") if part.strip())
    except ValueError:
        _fail(f"--seeds must be comma-separated integers, got {seeds!r}")
    settings = load_settings()
    out_dir = out or settings.home / "crossval" / family / (config.variant or family)
    _log_progress()
    try:
        summary, predictions = spec.evaluate.protocol(
            config,
            materialize(data_uri, settings),
            LocalTracker(out_dir / "tracking"),
            out_dir=out_dir,
            seeds=seed_list,
            device=device,
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    predictions.drop(columns=["embedding"], errors="ignore").to_parquet(out_dir / "predictions.parquet")
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "per_seed"}, indent=2))
    typer.echo(f"summary: {out_dir / 'summary.json'}")


@app.command("demo")
def demo(
    subjects: Annotated[
        int | None, typer.Option(help="Subjects in the demo cohort (default: the size's, 80).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the cohort and the split.")] = 0,
    size: Annotated[
        str,
        typer.Option(
            help="full: the demo; tiny: every step with a narrower model and less traffic, the same "
            "verdicts (what the tests run; about 20% less wall time)."
        ),
    ] = "full",
) -> None:
    """The main job on embedded defaults: synthesize, split, validate, version; train and evaluate a model."""
    from affectops.demo import SIZES, run_demo

    if size not in SIZES:
        _fail(f"--size: {size!r} is not one of {', '.join(SIZES)}")
    _log_progress()
    raise typer.Exit(run_demo(load_settings(), subjects=subjects, seed=seed, size=size))


def main() -> None:
    app()


def _gates(minimums: list[str] | None, maximums: list[str] | None, drops: list[str] | None) -> dict:
    """``--min fairness.f1_young=0.4`` ... -> ``{"fairness": {"f1_young": 0.4}}`` (components/gates.py)."""
    from components.gates import VS_CHAMPION, is_ceiling

    gates: dict[str, dict[str, float]] = {}
    for option, specs, kind in (
        ("--min", minimums, "floor"),
        ("--max", maximums, "ceiling"),
        ("--max-drop", drops, "drop"),
    ):
        for spec in specs or []:
            key, sep, raw = spec.partition("=")
            name, dot, metric = key.strip().partition(".")
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not sep or not dot or not name or not metric or not math.isfinite(value):
                _fail(f"{option} takes GATE.METRIC=NUMBER (e.g. fairness.f1_young=0.4), got {spec!r}")
            if kind != "drop" and is_ceiling(metric) != (kind == "ceiling"):
                what = "a ceiling (use --max)" if is_ceiling(metric) else "a floor (use --min)"
                _fail(f"{option} {spec}: {metric} is {what}")
            gates.setdefault(name, {})[metric + VS_CHAMPION if kind == "drop" else metric] = value
    return gates


@registry.command("register")
def registry_register(
    family: Name,
    model: Annotated[Path, typer.Option(help="Model artifact written by `affectops train`.")],
    metrics: Annotated[
        Path | None, typer.Option(help="Evaluation report JSON (`affectops evaluate --report`).")
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Run and version tag KEY=VALUE (repeatable), e.g. dataset_version=..."),
    ] = None,
    run_name: Annotated[str | None, typer.Option(help="MLflow run name.")] = None,
) -> None:
    """Log a model (params, metrics, signature, example) to MLflow; register it as `challenger`."""
    from components.registry import log_and_register

    _family(family)
    parsed: dict[str, str] = {}
    for tag in tags or []:
        key, sep, value = tag.partition("=")
        if not sep or not key.strip():
            _fail(f"--tag takes KEY=VALUE, got {tag!r}")
        parsed[key.strip()] = value
    try:
        report = json.loads(metrics.read_text()) if metrics is not None else {}
        if not isinstance(report, dict):
            _fail(f"{metrics} must hold a JSON object of metrics")
        info = log_and_register(
            family, model, report, run_name=run_name, tags=parsed, settings=load_settings()
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    typer.echo(f"registered {info.name} version {info.version} ({', '.join(info.aliases)}): {info.model_uri}")


@registry.command("promote")
def registry_promote(
    family: Name,
    version: Annotated[int, typer.Argument(help="Registered version to gate and promote.")],
    minimums: Annotated[
        list[str] | None,
        typer.Option("--min", help="Floor GATE.METRIC=NUMBER (repeatable), e.g. fairness.f1_young=0.4."),
    ] = None,
    maximums: Annotated[
        list[str] | None,
        typer.Option(
            "--max", help="Ceiling GATE.METRIC=NUMBER (repeatable), e.g. age_probe.abs_age_probe_r=0.3."
        ),
    ] = None,
    drops: Annotated[
        list[str] | None,
        typer.Option(
            "--max-drop", help="Largest drop below the champion, GATE.METRIC=NUMBER, e.g. quality.f1=0.02."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if a gate fails (needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why: recorded with who and when.")] = "",
) -> None:
    """Gate a version on its logged evaluation; on a pass (or --force) it becomes `champion`, else exit 1."""
    from components.promotion import promote

    _family(family)
    gates = _gates(minimums, maximums, drops)
    if not gates:
        _fail("name at least one gate threshold (--min, --max or --max-drop)")
    try:
        result = promote(family, version, gates, force=force, reason=reason, settings=load_settings())
    except ValueError as err:
        _fail(str(err))
    for name, gate in result.gates.items():
        typer.echo(f"gate {name}: {gate.describe()}")
    if result.forced:
        typer.secho(f"{family} version {version} FORCED to champion: {reason}", fg="yellow")
    elif not result.promoted:
        typer.echo(f"{family} version {version} stays registered, not promoted")
        raise typer.Exit(1)
    else:
        typer.echo(f"{family} version {version} passed {len(gates)} gate(s); now champion")


@registry.command("rollback")
def registry_rollback(
    family: Name,
    reason: Annotated[str, typer.Option(help="Why: recorded with who and when.")] = "",
) -> None:
    """Give `champion` back to the version the current champion replaced; nothing is deleted."""
    from components.promotion import rollback

    _family(family)
    try:
        event = rollback(family, reason=reason, settings=load_settings())
    except ValueError as err:
        _fail(str(err))
    typer.echo(f"{family}: champion is version {event.version} again (was {event.replaced})")


@registry.command("history")
def registry_history(family: Name) -> None:
    """Which version was champion when: every promotion, forced promotion and rollback."""
    from components.promotion import history

    _family(family)
    try:
        events = history(family, settings=load_settings())
    except ValueError as err:
        _fail(str(err))
    if not events:
        typer.echo(f"{family} has never had a champion")
    for event in events:
        replaced = "-" if event.replaced is None else str(event.replaced)
        fields = (
            event.at,
            event.action,
            f"version {event.version}",
            f"replaced {replaced}",
            event.by,
            event.reason,
        )
        typer.echo("\t".join(fields))


@registry.command("list")
def registry_list(family: Name) -> None:
    """Registered versions of a family with their aliases and gate results."""
    from components.registry import list_versions

    _family(family)
    versions = list_versions(family, settings=load_settings())
    if not versions:
        typer.echo(f"no registered versions of {family}")
    for info in versions:
        aliases = ",".join(info.aliases) or "-"
        gate_result = info.tags.get("gate.passed", "not gated")
        typer.echo(f"{info.name}\t{info.version}\t{aliases}\tgate={gate_result}\trun={info.run_id}")


Profile = Annotated[
    str | None,
    typer.Option(help="Cluster profile of pipelines/configs/cluster.yaml (default: its default_profile)."),
]


def guard_deploy_step(
    settings, *, out_dir: Path | None, apply: bool, canary_percent: int | None, profile: str | None
):
    """The guard's deploy step: ``(family, version, replaced champion) -> where it went``, the
    InferenceService `serve deploy` writes, with the canary when the version replaces a champion."""
    from dataclasses import replace

    from core.registry import version_uri
    from pipelines.cluster import load_cluster
    from serving.deploy import build_inference_service, deploy, resolve_model

    cluster = load_cluster(profile)

    def step(family: str, version: int, replaced: int | None) -> str:
        resolved = resolve_model(
            version_uri(family, version), settings, artifacts_destination=cluster.mlflow_artifacts
        )
        # the alias already points at this version: the champion it replaces is the recorded one
        isvc = build_inference_service(
            replace(resolved, champion=replaced),
            family=family,
            cluster=cluster,
            canary_percent=canary_percent,
            logger_url=cluster.sink_url,
            settings=settings,
        )
        out = None if out_dir is None else Path(out_dir) / f"{family}-{version}.yaml"
        deploy(isvc, apply=apply, out=out)
        return f"{out or isvc.metadata.name}{' (applied)' if apply else ''}"

    return step


@registry.command("guard")
def registry_guard(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8095,
    url: Annotated[
        str | None,
        typer.Option(
            help="URL MLflow delivers to (default: AFFECTOPS_REGISTRY_GUARD_URL, else http://HOST:PORT/)."
        ),
    ] = None,
    alert_webhook: Annotated[str | None, typer.Option(help="Also POST each alert here as JSON.")] = None,
    register: Annotated[
        bool, typer.Option(help="Register (or update) the MLflow webhook on start-up.")
    ] = True,
    deploy_out: Annotated[
        Path | None,
        typer.Option(
            help="After a pass, write the InferenceService (as `serve deploy`) into this directory."
        ),
    ] = None,
    deploy_apply: Annotated[
        bool, typer.Option("--deploy-apply", help="After a pass, also apply it (needs KServe RBAC).")
    ] = False,
    canary_percent: Annotated[
        int | None, typer.Option(help="Canary traffic share of a deployed version that replaces a champion.")
    ] = None,
    profile: Profile = None,
) -> None:
    """Hold `champion` aliases set in the MLflow UI to the gates: serve MLflow's signed webhook deliveries.

    The HMAC secret comes from AFFECTOPS_REGISTRY_GUARD_SECRET (never an option: it would show in `ps`).
    """
    import logging
    import os

    from components.registry_guard import Guard, Refused, Unavailable, server

    secret = os.environ.get("AFFECTOPS_REGISTRY_GUARD_SECRET", "")
    if not secret:
        _fail("set AFFECTOPS_REGISTRY_GUARD_SECRET to the webhook's HMAC secret")
    # the guard retries MLflow itself, with a short backoff; MLflow's own retries would hold a delivery
    # for minutes
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    deploy = None
    if deploy_out is not None or deploy_apply:
        deploy = guard_deploy_step(
            settings, out_dir=deploy_out, apply=deploy_apply, canary_percent=canary_percent, profile=profile
        )
    guard = Guard(settings, secret, alert_webhook=alert_webhook, deploy=deploy)
    httpd = server(guard, host, port)
    target = url or os.environ.get("AFFECTOPS_REGISTRY_GUARD_URL") or f"http://{host}:{httpd.server_port}/"
    if register:
        try:
            typer.echo(f"MLflow webhook {guard.ensure_webhook(target)} delivers to {target}")
        except (Refused, Unavailable) as err:
            _fail(f"could not register the MLflow webhook for {target}: {err}")
    typer.echo(f"registry guard listening on {host}:{httpd.server_port}")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


@pipeline_app.command("compile")
def pipeline_compile(
    out: Annotated[Path, typer.Option(help="Directory for the IR YAML of every pipeline.")],
    profile: Profile = None,
) -> None:
    """Write every pipeline's IR YAML (uploadable in the Kubeflow Pipelines UI)."""
    from pipelines.training import compile_all

    try:
        for path in compile_all(out, profile):
            typer.echo(path)
    except ValueError as err:
        _fail(str(err))


@pipeline_app.command("upload")
def pipeline_upload(
    host: Annotated[str | None, typer.Option(help="KFP endpoint (default: AFFECTOPS_KFP_HOST).")] = None,
    version: Annotated[
        str | None, typer.Option(help="Pipeline version name (default: the package version + git commit).")
    ] = None,
    profile: Profile = None,
) -> None:
    """Compile every pipeline and upload each to the KFP at --host (new pipeline, or a new version)."""
    from affectops import __version__
    from components.registry import git_commit
    from pipelines.runner import upload
    from pipelines.training import compile_all

    host = host or load_settings().kfp_host
    if not host:
        _fail("no KFP endpoint: pass --host URL or set AFFECTOPS_KFP_HOST")
    version = version or f"{__version__}-{git_commit()[:12]}"
    with tempfile.TemporaryDirectory() as tmp:
        for path in compile_all(Path(tmp), profile):
            name = f"affectops-{path.stem}"
            typer.echo(f"{name} version {version}: {upload(path, host=host, name=name, version=version)}")


@pipeline_app.command("run")
def pipeline_run(
    dataset_uri: Annotated[str, typer.Option(help="Cohort directory or s3://bucket/prefix URI.")],
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Pipeline parameter NAME=VALUE (repeatable), e.g. --param promote=true."
        ),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Run here with kfp.local (no cluster).")] = False,
    host: Annotated[
        str | None, typer.Option(help="KFP endpoint (default: AFFECTOPS_KFP_HOST); ignored with --local.")
    ] = None,
    experiment: Annotated[str, typer.Option(help="KFP experiment of a cluster run.")] = "affectops",
    profile: Profile = None,
) -> None:
    """Run the training pipeline: `--local` in this Python (kfp.local), else on the KFP cluster at --host."""
    from models.common.config import parse_assignments
    from pipelines.cluster import load_cluster
    from pipelines.runner import parse_params, run_local, submit
    from pipelines.training import training_pipeline

    settings = load_settings()
    try:
        pipeline = training_pipeline(profile)
        arguments = {**parse_params(pipeline, parse_assignments(params or [])), "dataset_uri": dataset_uri}
    except ValueError as err:
        _fail(str(err))
    if local:
        _log_progress()
        run_dir = run_local(pipeline, arguments, settings=settings)
        typer.echo(f"pipeline finished; artifacts under {run_dir}")
        return
    host = host or settings.kfp_host
    if not host:
        _fail("no KFP endpoint: pass --host URL, set AFFECTOPS_KFP_HOST, or run with --local")
    cluster = load_cluster(profile)
    run_id = submit(
        pipeline,
        arguments,
        host=host,
        experiment=experiment,
        service_account=cluster.service_account,
    )
    typer.echo(f"submitted run {run_id} to {host}")
