"""``affectops monitor``: the inference-log sink, late labels, drift / fairness reports and their UI."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from affectops import default_family
from core.settings import load_settings

monitor_app = typer.Typer(
    help="Monitoring: the inference-log sink, ground-truth labels, drift and fairness reports.",
    no_args_is_help=True,
)
labels_app = typer.Typer(help="Ground truth that arrives late (a label per subject).", no_args_is_help=True)
monitor_app.add_typer(labels_app, name="labels")

Store = Annotated[
    Path | None, typer.Option(help="Inference-log store (default: $AFFECTOPS_HOME/inference-log).")
]
_WINDOW = re.compile(r"^(?P<count>\d+)(?P<unit>[mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _fail(message: str):
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def _root(store: Path | None) -> Path:
    from monitoring.store import default_root

    return store or default_root(load_settings())


def parse_window(
    window: str | None, start: str | None, end: str | None
) -> tuple[datetime | None, datetime | None]:
    """``--window 7d`` (the last 7 days) or ``--start`` / ``--end`` (ISO 8601; naive = UTC)."""
    if window and (start or end):
        _fail("give --window or --start/--end, not both")
    if window:
        found = _WINDOW.match(window)
        if not found:
            _fail(f"--window takes a count and a unit m, h or d (e.g. 7d), got {window!r}")
        now = datetime.now(UTC)
        return now - timedelta(**{_UNITS[found["unit"]]: int(found["count"])}), None
    bounds = []
    for name, text in (("--start", start), ("--end", end)):
        try:
            bounds.append(datetime.fromisoformat(text) if text else None)
        except ValueError:
            _fail(f"{name}: {text!r} is not an ISO 8601 time")
    return bounds[0], bounds[1]


@monitor_app.command("sink")
def monitor_sink(
    store: Store = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the KServe logger posts to.")] = 8090,
    remote: Annotated[
        str | None,
        typer.Option(
            help="s3:// prefix compacted partitions go to (default: AFFECTOPS_INFERENCE_LOG_REMOTE)."
        ),
    ] = None,
    compact_interval: Annotated[float, typer.Option(help="Seconds between compactions.")] = 60.0,
) -> None:
    """Receive KServe inference-logger CloudEvents; acknowledge each once it is on disk."""
    from monitoring.sink import run_sink

    remote = remote or load_settings().inference_log_remote
    run_sink(_root(store), host, port, remote=remote, compact_interval=compact_interval)


@labels_app.command("add")
def labels_add(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV or parquet: subject_pseudonym, the model's label column (0/1), screened_at (optional)."
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            help="Registered model (= family) of the labels: its monitoring config names the label column.",
            default_factory=default_family,
            show_default="models.DEFAULT_FAMILY",
        ),
    ],
    store: Store = None,
) -> None:
    """Store ground-truth labels; reports join them to logged inferences by subject pseudonym."""
    from monitoring.config import load_config
    from monitoring.labels import add_labels

    try:
        label = load_config(model)["fairness"]["label_column"]
        if label is None:
            _fail(f"{model}: its monitoring config has no fairness.label_column; it takes no labels")
        added = add_labels(file, _root(store), label)
    except (ValueError, FileNotFoundError) as err:
        _fail(str(err))
    typer.echo(f"stored {added} labels")


@monitor_app.command("report")
def monitor_report(
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="Registered model (= family) to report on; repeat it to report on several "
            "(default: every family with a monitoring config)."
        ),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option(help="Model version (default: the champion), its reference data. One --model only."),
    ] = None,
    window: Annotated[str | None, typer.Option(help="The last N m/h/d, e.g. 7d.")] = None,
    start: Annotated[str | None, typer.Option(help="Window start, ISO 8601 (naive = UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Window end (exclusive), ISO 8601.")] = None,
    store: Store = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Report directory (default: under $AFFECTOPS_HOME/reports). One --model only."),
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="POST each alert here as JSON.")] = None,
    retrain_dataset: Annotated[
        str | None,
        typer.Option(
            help="On a breach, start the training pipeline on this dataset URI (KFP, else kfp.local). "
            "One --model only."
        ),
    ] = None,
) -> None:
    """Drift (overall and per age group), fairness once labels join and the age probe, for the serving
    version against its reference data, as the family's monitoring config says; breaches of its
    thresholds become alerts. Every model is reported even when an earlier one fails; the exit code is
    2 if a report could not be made, else 1 if a threshold was breached."""
    from monitoring.config import monitored_families
    from monitoring.job import report_window
    from pipelines.retrain import retrain

    model = model or monitored_families()
    if len(model) > 1 and (version is not None or out is not None or retrain_dataset is not None):
        _fail("--version, --out and --retrain-dataset apply to one model; give a single --model with them")
    since, until = parse_window(window, start, end)
    settings = load_settings()
    failed, breached = False, False
    for name in model:
        try:
            result = report_window(
                name,
                settings=settings,
                store_root=_root(store),
                version=version,
                start=since,
                end=until,
                out_dir=out,
                webhook_url=webhook,
            )
        except ValueError as err:
            typer.secho(f"error: {name}: {err}", fg="red", err=True)
            failed = True
            continue
        typer.echo(format_result(result))
        if result.breaches:
            breached = True
            if retrain_dataset:
                root, uri = _root(store), retrain_dataset
                run = retrain(result, family=name, dataset_uri=uri, store_root=root, settings=settings)
                typer.echo(f"retraining started: {run}")
    if failed or breached:
        raise typer.Exit(2 if failed else 1)


def _reference_line(reference: dict) -> str:
    def who(part: dict) -> str:
        return f"{part['subjects']} subjects" if part["subjects"] is not None else f"{part['rows']} rows"

    every, answered = reference["all"], reference["answered"]
    if reference["answers_from"] == "every reference row":
        return f"reference: {who(every)}, answered by the version (held out from its training)"
    return (
        f"reference: inputs and demographics of {who(every)}; the version's answers on "
        f"{who(answered)} held out from its training"
    )


def format_result(result) -> str:
    """The drift table, the fairness table, the age probe, the report's files and any alerts, as text."""
    from monitoring.report import drift_table, fairness_table

    report = result.report
    span = report["window"]
    lines = [
        f"{report['model']} version {report['version']}: {span['ok']} inferences, "
        f"{span['start']} to {span['end']}; {report['labelled']['rows']} labelled",
        _reference_line(report["reference"]),
        drift_table(report).to_string(float_format=lambda v: f"{v:.3f}"),
    ]
    if report["fairness"]:
        lines.append(fairness_table(report).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    probe = report["age_probe"]
    if probe is not None and probe["r"] is not None:
        lines.append(
            f"age probe (Fig. 5): r {probe['r']:.3f}, p {probe['p']:.3f}, {probe['subjects']} subjects"
        )
    elif probe is not None:
        lines.append(f"age probe (Fig. 5): not computed ({probe['subjects']} subjects with both ages)")
    lines += [f"{name}: {path}" for name, path in report["paths"].items()]
    lines += [f"ALERT {breach.message}" for breach in result.breaches]
    lines.append(f"alerts: {result.alerts}" if result.breaches else "no threshold breached")
    return "\n".join(lines)


@monitor_app.command("ui")
def monitor_ui(
    port: Annotated[int, typer.Option(help="Port of the Evidently UI.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """The Evidently UI over every saved report (one project per model)."""
    from monitoring.report import workspace_dir

    workspace = workspace_dir(load_settings().home)
    workspace.mkdir(parents=True, exist_ok=True)
    evidently = Path(sys.executable).with_name("evidently")
    raise typer.Exit(
        subprocess.call(
            [str(evidently), "ui", "--workspace", str(workspace), "--host", host, "--port", str(port)]
        )
    )
