"""The MLflow model registry: log and register a family's model, gate it, promote it.

Report, then gate (STYLE.md §10): ``gate`` is a pure comparison of an evaluation dict with
thresholds; ``promote`` reads a version's logged metrics, gates them and only on a pass moves the
``champion`` alias. A version that fails stays registered, with the reasons as version tags.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from affectops.settings import Settings, load_settings

CHALLENGER = "challenger"
CHAMPION = "champion"
MODEL_NAME = "model"  # the logged model's name inside its run
# keys whose threshold is a ceiling; every other key's threshold is a floor
CEILING_PREFIXES = ("abs_",)
CEILING_SUFFIXES = ("_gap",)
TAG_GIT_COMMIT = "git_commit"
TAG_FAMILY = "family"


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: int
    run_id: str
    model_uri: str  # models:/name/version
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]  # one line per failed check; empty when passed
    checks: dict[str, float | None]  # the value each threshold was compared with (None: missing)

    def describe(self) -> str:
        return "passed" if self.passed else "failed: " + "; ".join(self.reasons)


def is_ceiling(key: str) -> bool:
    return key.startswith(CEILING_PREFIXES) or key.endswith(CEILING_SUFFIXES)


def _value(report: Mapping[str, Any], key: str) -> float | None:
    value = report.get(key)
    if value is None and key.startswith("abs_") and report.get(key[4:]) is not None:
        value = abs(report[key[4:]])  # abs_age_probe_r: |r| of the report's age_probe_r
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def gate(report: Mapping[str, Any], thresholds: Mapping[str, float]) -> GateResult:
    """Compare ``report`` with ``thresholds``: a floor for most keys, a ceiling for ``abs_*``/``*_gap``.

    ``abs_X`` reads ``abs_X`` from the report, or else ``|X|``. A missing, None or NaN metric fails.
    """
    reasons: list[str] = []
    checks: dict[str, float | None] = {}
    for key, threshold in thresholds.items():
        value = checks[key] = _value(report, key)
        if value is None:
            reasons.append(f"{key}: missing from the evaluation report")
        elif is_ceiling(key) and value > threshold:
            reasons.append(f"{key} = {value:.4f} is above the ceiling {threshold:g}")
        elif not is_ceiling(key) and value < threshold:
            reasons.append(f"{key} = {value:.4f} is below the floor {threshold:g}")
    return GateResult(passed=not reasons, reasons=reasons, checks=checks)


def git_commit(cwd: Path | None = None) -> str:
    """HEAD of the git checkout holding this code (or ``cwd``); "unknown" outside one."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _client(settings: Settings):
    import mlflow

    return mlflow.MlflowClient(settings.mlflow_tracking_uri)


def _pip_requirements() -> list[str]:
    # pinned from this environment: MLflow's inference of requirements loads the model in a
    # subprocess, which costs seconds per registration. The platform image carries the package.
    import mlflow
    import numpy
    import torch

    return [f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__}", f"numpy=={numpy.__version__}"]


def log_and_register(
    family: str,
    model_path: Path,
    metrics: Mapping[str, Any],
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> ModelVersionInfo:
    """One MLflow run: the model's config as params, ``metrics`` (the evaluation report), ``tags``
    (dataset version, pipeline run id, ...; git commit by default) and the model as a pyfunc with
    the family's signature and example input; registered under the family's name as ``challenger``.
    """
    import mlflow.pyfunc

    from components.mlflow_model import ARTIFACT_KEY, FamilyModel, signature
    from components.tracking import mlflow_run
    from models import get_family

    settings = settings or load_settings()
    spec = get_family(family)
    model_path = Path(model_path)
    config = spec.load_model(model_path).config  # also proves the artifact is this family's
    all_tags = {TAG_GIT_COMMIT: git_commit(), **{k: str(v) for k, v in (tags or {}).items()}}
    all_tags[TAG_FAMILY] = family
    with mlflow_run(settings, experiment=family, run_name=run_name, tags=all_tags) as tracker:
        tracker.log_params(config)
        tracker.log_metrics(metrics)
        mlflow.log_dict(dict(metrics), "evaluation.json")  # the whole report, None groups included
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=FamilyModel(family),
            artifacts={ARTIFACT_KEY: str(model_path)},
            signature=signature(family, config),
            input_example=spec.example_input(config),
            registered_model_name=family,
            pip_requirements=_pip_requirements(),
        )
    version = str(info.registered_model_version)
    client = _client(settings)
    for key, value in all_tags.items():
        client.set_model_version_tag(family, version, key, value)
    client.set_registered_model_alias(family, CHALLENGER, version)
    return describe_version(family, int(version), settings=settings)


def describe_version(family: str, version: int, *, settings: Settings | None = None) -> ModelVersionInfo:
    from mlflow.exceptions import MlflowException

    client = _client(settings or load_settings())
    try:
        found = client.get_model_version(family, str(version))
        aliases = client.get_registered_model(family).aliases
    except MlflowException as err:
        raise ValueError(f"no version {version} of registered model {family!r}: {err.message}") from None
    return ModelVersionInfo(
        name=family,
        version=int(found.version),
        run_id=found.run_id,
        model_uri=f"models:/{family}/{found.version}",
        aliases=tuple(sorted(alias for alias, v in aliases.items() if str(v) == str(found.version))),
        tags=dict(found.tags),
    )


def list_versions(family: str, *, settings: Settings | None = None) -> list[ModelVersionInfo]:
    """Every registered version of ``family``, oldest first, with its aliases; [] if none."""
    from mlflow.exceptions import MlflowException

    client = _client(settings or load_settings())
    try:
        aliases = client.get_registered_model(family).aliases
    except MlflowException:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    found = client.search_model_versions(f"name = '{family}'")
    return sorted(
        (
            ModelVersionInfo(
                name=family,
                version=int(v.version),
                run_id=v.run_id,
                model_uri=f"models:/{family}/{v.version}",
                aliases=tuple(sorted(by_version.get(str(v.version), []))),
                tags=dict(v.tags),
            )
            for v in found
        ),
        key=lambda info: info.version,
    )


def promote(
    family: str, version: int, thresholds: Mapping[str, float], *, settings: Settings | None = None
) -> GateResult:
    """Gate ``version`` on its run's logged metrics; on a pass it becomes ``champion``.

    The result is recorded on the version either way (tags ``gate.*``), so MLflow shows why a
    version was or was not promoted. Raises ValueError for an unknown version.
    """
    settings = settings or load_settings()
    info = describe_version(family, version, settings=settings)
    client = _client(settings)
    result = gate(client.get_run(info.run_id).data.metrics, thresholds)
    version_str = str(info.version)
    tags = {
        "gate.passed": str(result.passed).lower(),
        "gate.reasons": "; ".join(result.reasons),
        "gate.thresholds": json.dumps(dict(thresholds), sort_keys=True),
        "gate.checks": json.dumps(result.checks, sort_keys=True),
        "gate.checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for key, value in tags.items():
        client.set_model_version_tag(family, version_str, key, value)
    if result.passed:
        client.set_registered_model_alias(family, CHAMPION, version_str)
    return result
