"""Run a compiled pipeline: locally with ``kfp.local`` (same pipeline function), or on a KFP cluster.

The cluster path (``submit``) needs a Kubeflow Pipelines endpoint and is not exercised by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.settings import Settings


def _parameter_types(pipeline: Any) -> dict[str, str]:
    inputs = pipeline.component_spec.inputs or {}
    return {name: spec.type for name, spec in inputs.items()}


def parse_params(pipeline: Any, assignments: Mapping[str, str]) -> dict[str, Any]:
    """``{"seed": "1"}`` -> ``{"seed": 1}`` by the pipeline's parameter types; unknown names raise."""
    types = _parameter_types(pipeline)
    out: dict[str, Any] = {}
    for name, raw in assignments.items():
        if name not in types:
            raise ValueError(f"unknown pipeline parameter {name!r}; known: {', '.join(sorted(types))}")
        kind = types[name]
        if kind == "Boolean":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"parameter {name}: {raw!r} is not a boolean")
            out[name] = raw.lower() in ("true", "1")
        elif kind == "Integer":
            out[name] = int(raw)
        elif kind == "Float":
            out[name] = float(raw)
        else:
            out[name] = raw
    return out


def local_root(settings: Settings) -> Path:
    return settings.home / "kfp-local"


def run_local(pipeline: Any, arguments: Mapping[str, Any], *, settings: Settings) -> Path:
    """Run ``pipeline`` in this machine's Python (``kfp.local`` SubprocessRunner, no venv, no image).

    Each task is a child process that inherits the environment (MLflow URI, ``AFFECTOPS_HOME``).
    Raises if a task fails; returns this run's directory (``<root>/<run name>/<task>/<output>``).
    """
    from kfp import local

    root = local_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    pipeline(**arguments)
    (run_dir,) = set(root.iterdir()) - before
    return run_dir


def submit(
    pipeline: Any,
    arguments: Mapping[str, Any],
    *,
    host: str,
    experiment: str,
    namespace: str | None = None,
    service_account: str | None = None,
) -> str:
    """Create a run of ``pipeline`` on the KFP at ``host``; its run id. Not exercised by the tests."""
    import kfp

    client = kfp.Client(host=host, namespace=namespace)
    run = client.create_run_from_pipeline_func(
        pipeline,
        arguments=dict(arguments),
        experiment_name=experiment,
        namespace=namespace,
        service_account=service_account,
    )
    return run.run_id


def upload(package: Path, *, host: str, name: str, version: str, namespace: str | None = None) -> str:
    """Upload a compiled pipeline to the KFP at ``host``: a new pipeline ``name``, or a new version of it.
    Returns the pipeline version's id. Not exercised by the tests (needs a KFP API server)."""
    import kfp

    client = kfp.Client(host=host, namespace=namespace)
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        created = client.upload_pipeline(str(package), pipeline_name=name)
        pipeline_id = created.pipeline_id
    found = client.upload_pipeline_version(
        str(package), pipeline_version_name=version, pipeline_id=pipeline_id
    )
    return found.pipeline_version_id
