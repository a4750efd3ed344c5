"""The MLflow implementation of ``models.common.tracking.Tracker``, and the run it writes into.

``models`` never imports mlflow (ARCHITECTURE.md, the import rule); this module is where the
platform plugs MLflow in. The tracking URI comes from settings when a run starts, never at import.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import registry
from core.settings import Settings, load_settings

MAX_PARAM_CHARS = 6000  # MLflow's limit on one parameter value


def flatten_params(params: Mapping[str, Any] | Any, prefix: str = "") -> dict[str, str]:
    """Nested mappings / dataclasses -> ``{"a.b": "value"}``; sequences as JSON; None as "None"."""
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        params = dataclasses.asdict(params)
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, Mapping):
            out.update(flatten_params(value, prefix=f"{name}."))
            continue
        text = json.dumps(list(value)) if isinstance(value, (list, tuple)) else str(value)
        out[name] = text[:MAX_PARAM_CHARS]
    return out


def float_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of an evaluation report (nested keys joined with '.'); counts become floats.

    Non-numeric values, None (a group without segments) and NaN are left out: MLflow metrics are
    numbers, and a missing metric is what the gate reports as missing.
    """
    out: dict[str, float] = {}
    for key, value in report.items():
        if isinstance(value, Mapping):
            out.update({f"{key}.{sub}": number for sub, number in float_metrics(value).items()})
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


class MlflowTracker:
    """A ``Tracker`` writing into one MLflow run (default: the active run of this thread)."""

    def __init__(self, run_id: str | None = None, *, settings: Settings | None = None) -> None:
        import mlflow

        if run_id is None:
            active = mlflow.active_run()
            if active is None:
                raise ValueError("MlflowTracker needs a run_id or an active MLflow run (mlflow_run(...))")
            run_id = active.info.run_id
            tracking_uri = mlflow.get_tracking_uri()
        else:
            tracking_uri = (settings or load_settings()).mlflow_tracking_uri
        self.run_id = run_id
        self.client = registry.client(tracking_uri=tracking_uri)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten_params(params)
        # log_batch takes at most 100 params per call
        items = [Param(key, value) for key, value in flat.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(key, value, now, step or 0) for key, value in float_metrics(metrics).items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """A file or a directory, stored as ``name`` (default: its own name) under the run's artifacts."""
        path = Path(path)
        target = Path(name or path.name)
        folder = None if str(target.parent) == "." else str(target.parent)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path=str(target))
        elif target.name == path.name:
            self.client.log_artifact(self.run_id, str(path), artifact_path=folder)
        else:  # MLflow keeps the file's own name, so rename through a copy
            with tempfile.TemporaryDirectory() as tmp:
                renamed = Path(tmp) / target.name
                shutil.copy2(path, renamed)
                self.client.log_artifact(self.run_id, str(renamed), artifact_path=folder)


@contextmanager
def mlflow_run(
    settings: Settings | None = None,
    *,
    experiment: str,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> Iterator[MlflowTracker]:
    """Start a run in ``experiment`` on the settings' tracking server (or resume ``run_id``); its tracker."""
    import mlflow

    settings = settings or load_settings()
    set_experiment(settings, experiment)
    tags = {k: str(v) for k, v in (tags or {}).items()}
    with mlflow.start_run(run_id=run_id or None, run_name=None if run_id else run_name, tags=tags):
        yield MlflowTracker()


def set_experiment(settings: Settings, experiment: str) -> str:
    """Point mlflow at the settings' tracking server and make ``experiment`` active; its id.

    With the embedded SQLite store, artifacts go under ``$AFFECTOPS_HOME/mlartifacts``: MLflow's
    own default there is ``./mlruns`` of whatever directory the process happens to run in.
    """
    import mlflow

    uri = settings.mlflow_tracking_uri
    embedded = uri.startswith("sqlite:")
    if embedded:
        settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = registry.client(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        location = (settings.home / "mlartifacts" / experiment).as_uri() if embedded else None
        experiment_id = client.create_experiment(experiment, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id
