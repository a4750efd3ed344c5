"""The MLflow model registry: log a family's model with its evaluation and register it as ``challenger``.

Gating and moving ``champion`` live in ``components/promotion.py``; the registry client, ``models:/``
references and the champion alias in ``core/registry.py``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.registry import CHAMPION as CHAMPION  # both aliases are named here, for the registration step
from core.registry import client, version_uri
from core.settings import Settings, load_settings

CHALLENGER = "challenger"
MODEL_NAME = "model"  # the logged model's name inside its run
TAG_GIT_COMMIT = "git_commit"
TAG_FAMILY = "family"
EVALUATION_ARTIFACT = "evaluation.json"


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: int
    run_id: str
    model_uri: str  # models:/name/version
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


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
    artifacts: Mapping[str, Path] | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> ModelVersionInfo:
    """Log into one MLflow run (``run_id``: the training run, so one run holds everything; else a new
    one): the model's config as params, ``metrics`` (the evaluation report), ``tags`` (dataset version,
    pipeline run id, ...; git commit by default), ``artifacts`` (name -> file or directory: plots,
    Data Docs, reference data) and the model as a pyfunc with the family's signature and example
    input; registered under the family's name as ``challenger``, its model card as its description.
    """
    import mlflow.pyfunc

    from components.mlflow_model import ARTIFACT_KEY, FamilyModel, signature
    from components.model_card import write_cards
    from components.tracking import mlflow_run
    from models import get_family

    settings = settings or load_settings()
    spec = get_family(family)
    model_path = Path(model_path)
    config = spec.train.load(model_path).config  # also proves the artifact is this family's
    all_tags = {TAG_GIT_COMMIT: git_commit(), **{k: str(v) for k, v in (tags or {}).items()}}
    all_tags[TAG_FAMILY] = family
    with mlflow_run(settings, experiment=family, run_name=run_name, tags=all_tags, run_id=run_id) as tracker:
        tracker.log_params(config)
        tracker.log_metrics(metrics)
        mlflow.log_dict(dict(metrics), EVALUATION_ARTIFACT)  # the whole report, None groups included
        for name, path in (artifacts or {}).items():
            tracker.log_artifact(Path(path), name=name)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=FamilyModel(family),
            artifacts={ARTIFACT_KEY: str(model_path)},
            signature=signature(family, config),
            input_example=spec.serve.example(config),
            registered_model_name=family,
            pip_requirements=_pip_requirements(),
        )
    version = str(info.registered_model_version)
    mlflow_client = client(settings)
    for key, value in all_tags.items():
        mlflow_client.set_model_version_tag(family, version, key, value)
    mlflow_client.set_registered_model_alias(family, CHALLENGER, version)
    write_cards(family, version, settings=settings)
    return describe_version(family, int(version), settings=settings)


def describe_version(family: str, version: int, *, settings: Settings | None = None) -> ModelVersionInfo:
    from mlflow.exceptions import MlflowException

    mlflow_client = client(settings or load_settings())
    try:
        found = mlflow_client.get_model_version(family, str(version))
        aliases = mlflow_client.get_registered_model(family).aliases
    except MlflowException as err:
        raise ValueError(f"no version {version} of registered model {family!r}: {err.message}") from None
    return ModelVersionInfo(
        name=family,
        version=int(found.version),
        run_id=found.run_id,
        model_uri=version_uri(family, found.version),
        aliases=tuple(sorted(alias for alias, v in aliases.items() if str(v) == str(found.version))),
        tags=dict(found.tags),
    )


def list_versions(family: str, *, settings: Settings | None = None) -> list[ModelVersionInfo]:
    """Every registered version of ``family``, oldest first, with its aliases; [] if none."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(settings or load_settings())
    try:
        aliases = mlflow_client.get_registered_model(family).aliases
    except MlflowException:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    found = mlflow_client.search_model_versions(f"name = '{family}'")
    return sorted(
        (
            ModelVersionInfo(
                name=family,
                version=int(v.version),
                run_id=v.run_id,
                model_uri=version_uri(family, v.version),
                aliases=tuple(sorted(by_version.get(str(v.version), []))),
                tags=dict(v.tags),
            )
            for v in found
        ),
        key=lambda info: info.version,
    )
