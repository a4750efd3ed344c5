"""The training pipeline's steps as plain typed functions (STYLE §1).

``components/kfp_ops.py`` wraps each in a ``@dsl.component`` that only turns artifact paths and
parameters into these arguments; the logic is tested here, on tiny data, without KFP.
Every step is family-generic: it reaches a model only through ``models.get_family``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from core.settings import Settings
from core.storage import link_tree, materialize

MODEL_FILE = "model.pt"  # the model artifact's file inside the pipeline's Model directory


class DataValidationError(ValueError):
    """The dataset failed its family's expectations; the pipeline stops here."""


def dataset_name(uri: str) -> str:
    """The DVC registry name of a dataset: the last component of its path or URI."""
    name = Path(urlparse(str(uri)).path.rstrip("/")).name
    if not name:
        raise ValueError(f"cannot name a dataset after {uri!r}")
    return name


def _empty_target(out: Path) -> Path:
    """KFP may create an output's directory beforehand; the steps below want it absent."""
    out = Path(out)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if out.exists():
        raise FileExistsError(f"{out} already exists")
    return out


def resolve_dataset(uri: str, version: str, out: Path, *, settings: Settings) -> str:
    """Put the dataset into ``out``; return its DVC version.

    With ``version``, that exact version of the dataset named after ``uri`` is fetched from the DVC
    remote (and re-hashed). Without, ``uri`` (a directory or ``s3://`` prefix) is read as it is and
    versioned, so every registered model names the data it was trained on.
    """
    from components.data_version import fetch_dataset, version_dataset

    name = dataset_name(uri)
    out = _empty_target(out)
    if version:
        fetch_dataset(
            version,
            name=name,
            remote=settings.dvc_remote,
            out=out,
            repo=settings.dvc_repo,
            endpoint_url=settings.s3_endpoint_url,
        )
        return version
    source = materialize(uri, settings)
    found = version_dataset(
        source,
        name=name,
        remote=settings.dvc_remote,
        repo=settings.dvc_repo,
        endpoint_url=settings.s3_endpoint_url,
    )
    link_tree(source, out)
    return found.version


def validate_dataset(family: str, cohort: Path, docs_dir: Path, report_path: Path):
    """Run the family's expectations, write Data Docs and the report JSON; the ``ValidationReport``."""
    from components.validate import validate_cohort

    report = validate_cohort(Path(cohort), docs_dir=Path(docs_dir), family=family)
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report


def require_valid(report) -> None:
    """The gate after ``validate_dataset``: raise with every failure in words."""
    if not report.success:
        lines = "\n".join(f"- {failure.describe()}" for failure in report.failures)
        raise DataValidationError(f"{len(report.failures)} expectation(s) failed:\n{lines}")


def ensure_split(family: str, cohort: Path, out: Path, *, n_folds: int = 5, seed: int = 0) -> bool:
    """``cohort`` with folds into ``out`` (hard links): its own folds if it has them, else a new split.

    Returns whether a split was made.
    """
    from components.split import is_split, split_cohort

    out = _empty_target(out)
    if is_split(Path(cohort), family):
        link_tree(Path(cohort), out)
        return False
    split_cohort(Path(cohort), n_folds, seed, out=out, family=family)
    return True


def parse_overrides(text: str | list | dict) -> dict[str, Any]:
    """Pipeline overrides: a JSON object, a JSON list of ``key=value`` strings, or either already parsed."""
    from models.common.config import parse_assignments

    if isinstance(text, str) and not text.strip():
        return {}
    value = json.loads(text) if isinstance(text, str) else text
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return parse_assignments(value)
    raise ValueError(f"overrides must be a JSON object or a list of key=value strings, got {text!r}")


def parse_thresholds(text: str | Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Gate thresholds: a JSON object of gate name -> {metric: number} (see components/gates.py)."""
    from components.gates import parse_gates

    try:
        value = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as err:
        raise ValueError(f"gate thresholds are not valid JSON: {err}") from None
    return parse_gates(value)


def build_config(family: str, *, variant: str = "", overrides: Any = "{}", seed: int = 0, epochs: int = 0):
    """The family's config with the pipeline's parameters applied; ``variant=""``/``epochs=0``: defaults."""
    from models import get_family
    from models.common.config import apply_overrides

    changes = parse_overrides(overrides)
    if variant:
        changes["variant"] = variant
    if epochs > 0:
        changes["epochs"] = epochs
    changes["seed"] = seed
    return apply_overrides(get_family(family).train.config(), changes)


def _holdout_name(holdout: int | str) -> str:
    return f"fold{holdout}" if isinstance(holdout, int) else holdout


def train_model(
    family: str,
    data: Path,
    model_dir: Path,
    config: Any,
    *,
    holdout: str | int,
    settings: Settings,
    tags: Mapping[str, str] | None = None,
    device: str = "auto",
) -> tuple[Path, str]:
    """Train in an MLflow run of the family's experiment without the ``holdout`` partition (a fold
    index or a partition's name, "" the family's default); the model file lands in ``model_dir``.

    Checkpoints stay in a scratch directory: only the model is the step's output. Returns the
    model file and the MLflow run id.
    """
    from components.tracking import mlflow_run
    from models import get_family

    spec = get_family(family)
    held_out = spec.data.partitions.holdout(holdout)
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    run_name = f"{config.variant or family}-seed{config.seed}-{_holdout_name(held_out)}"
    with (
        tempfile.TemporaryDirectory(prefix="affectops-train-") as scratch,
        mlflow_run(settings, experiment=family, run_name=run_name, tags=tags) as tracker,
    ):
        path = spec.train.train(
            config,
            Path(data),
            tracker,
            out_dir=Path(scratch),
            holdout=held_out,
            device=device,
            resume=False,
        )
        target = model_dir / MODEL_FILE
        shutil.copy2(path, target)
    return target, tracker.run_id


def evaluate_model(
    family: str,
    model_file: Path,
    data: Path,
    holdout: str | int,
    report_path: Path,
    reference_path: Path | None = None,
) -> dict:
    """The family's metrics on the held-out partition, also written as JSON to ``report_path``; with
    ``reference_path``, the monitoring reference data (parquet, ``components.reference``: the held-out
    predictions and the trained-on examples' inputs; no rows for a family that is not monitored, so
    the artifact exists either way).
    """
    from components.reference import monitored, reference_frame
    from models import get_family

    spec = get_family(family)
    held_out = spec.data.partitions.holdout(holdout)
    scores = spec.evaluate.evaluate(spec.train.load(Path(model_file)), Path(data), held_out)
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(json.dumps(scores, indent=2))
    if reference_path is not None:
        Path(reference_path).parent.mkdir(parents=True, exist_ok=True)
        reference = (
            reference_frame(family, Path(model_file), Path(data), held_out)
            if monitored(family)
            else pd.DataFrame()
        )
        reference.to_parquet(reference_path)
    return scores


def register_model(
    family: str,
    model_file: Path,
    report_path: Path,
    *,
    tags: Mapping[str, str],
    settings: Settings,
    run_id: str | None = None,
    artifacts: Mapping[str, Path] | None = None,
    reference_path: Path | None = None,
) -> int:
    """Log the model with its evaluation report, ``artifacts``, the monitoring reference and the
    family's evaluation plots into the training run ``run_id`` (or a new run) and register it; empty
    tags are left out. Its version.
    """
    from components.reference import scored
    from components.registry import log_and_register
    from core.registry import REFERENCE_ARTIFACT
    from models import get_family

    report = json.loads(Path(report_path).read_text())
    logged = {name: Path(path) for name, path in (artifacts or {}).items() if Path(path).exists()}
    reference = pd.read_parquet(reference_path) if reference_path is not None else pd.DataFrame()
    plot = get_family(family).evaluate.plots
    with tempfile.TemporaryDirectory(prefix="affectops-plots-") as plots:
        if not reference.empty:
            logged[REFERENCE_ARTIFACT] = Path(reference_path)
        if plot is not None:
            plot(report, scored(reference), Path(plots))  # the version's answers
            logged["plots"] = Path(plots)
        info = log_and_register(
            family,
            Path(model_file),
            report,
            run_name=f"register-{family}",
            tags={k: v for k, v in tags.items() if v},
            artifacts=logged,
            run_id=run_id or None,
            settings=settings,
        )
    return info.version


def promote_model(family: str, version: int, thresholds: str | Mapping[str, Any], *, settings: Settings):
    """Gate a registered version (``thresholds`` empty: the family's own gates); on a pass it becomes
    ``champion``. The ``Promotion``."""
    from components.promotion import promote
    from models import get_family

    empty = not thresholds or (isinstance(thresholds, str) and not thresholds.strip())
    gates = parse_thresholds(get_family(family).evaluate.gates if empty else thresholds)
    return promote(family, version, gates, settings=settings)
