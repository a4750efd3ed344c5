"""The ``affectops`` command line: one subcommand group per area of the platform."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from affectops.settings import load_settings

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

Family = Annotated[str, typer.Option(help="Model family (see `models.FAMILIES`).")]
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
    family: Family = "hearing_loss",
    subjects: Annotated[int | None, typer.Option(help="Number of subjects (paper: 178).")] = None,
    session_minutes: Annotated[
        float | None, typer.Option(help="Mean session length in minutes (paper: ~51 of usable segments).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same cohort.")] = 0,
) -> None:
    """Write a synthetic cohort in the family's exact data format (defaults: the paper's scale)."""
    from dataclasses import replace

    from affectops.storage import is_s3, upload_dir

    spec = _family(family)
    config = replace(spec.synth_config(), seed=seed)
    if subjects is not None:
        config = replace(config, subjects=subjects)
    if session_minutes is not None:
        config = replace(config, session_seconds=(session_minutes * 55.0, session_minutes * 65.0))
    if not is_s3(out):
        spec.synthesize(config, Path(out))
        typer.echo(spec.format_summary(spec.summarize(Path(out))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        spec.synthesize(config, Path(tmp))
        files = upload_dir(Path(tmp), out, load_settings())
    typer.echo(f"wrote {files} files to {out}")


@data.command("split")
def data_split(
    cohort: Annotated[Path, typer.Argument(help="Local cohort directory.")],
    folds: Annotated[int, typer.Option(help="Number of folds (paper §4.2: 5).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the session shuffle.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Write the split cohort to this new directory instead.")
    ] = None,
) -> None:
    """Assign sessions (and so subjects) to subject-independent folds; writes folds.parquet."""
    from components.split import split_cohort

    typer.echo(split_cohort(cohort, folds, seed, out))


@data.command("validate")
def data_validate(
    cohort: Uri,
    family: Family = "hearing_loss",
    docs_dir: Annotated[Path | None, typer.Option(help="Where to write GE Data Docs.")] = None,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Also write the result as JSON here.")
    ] = None,
) -> None:
    """Run the family's Great Expectations suites; exit 1 and list every failure if any."""
    from affectops.storage import materialize
    from components.validate import validate_cohort

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
def data_summary(cohort: Uri, family: Family = "hearing_loss") -> None:
    """Print subjects, segments, age groups, noise levels and folds of a cohort."""
    from affectops.storage import materialize

    spec = _family(family)
    typer.echo(spec.format_summary(spec.summarize(materialize(cohort, load_settings()))))


@data.command("version")
def data_version(
    cohort: Uri,
    name: Annotated[str, typer.Option(help="Dataset name in the DVC registry.")],
    remote: Annotated[str | None, typer.Option(help="DVC remote (default: settings).")] = None,
) -> None:
    """Version a dataset with DVC (its content hash) and push it to the remote."""
    from affectops.storage import materialize
    from components.data_version import version_dataset

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


@app.command("demo")
def demo(
    subjects: Annotated[int, typer.Option(help="Subjects in the demo cohort.")] = 24,
    seed: Annotated[int, typer.Option(help="Seed of the cohort and the split.")] = 0,
) -> None:
    """The main job on embedded defaults: synthesize, split, validate and version a cohort."""
    from affectops.demo import run_demo

    raise typer.Exit(run_demo(load_settings(), subjects=subjects, seed=seed))


def main() -> None:
    app()
