"""The weekly monitoring job: one window of a serving version's logged inferences, reported and gated.

Report, then gate (STYLE.md §10): ``monitoring.report`` builds the dict; ``monitoring.gates`` compares it
with the configured thresholds; a breach becomes an alert record (and a webhook call).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.settings import Settings
from monitoring.gates import Breach


@dataclass(frozen=True)
class MonitoringResult:
    report: dict[str, Any]
    breaches: list[Breach]
    alerts: Path | None  # the alert file a breach was written to


def report_window(
    model: str,
    *,
    settings: Settings,
    store_root: Path,
    version: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    out_dir: Path | None = None,
    webhook_url: str | None = None,
    config: dict | None = None,
) -> MonitoringResult:
    """Report ``model``'s serving version (default: the champion) over ``[start, end)`` of the inference
    log against the reference data logged with that version; gate it; raise alerts on a breach.

    Raises ValueError when there is no champion, no logged inference of the version in the window,
    or no reference data.
    """
    from core.registry import champion_version, load_reference
    from monitoring import alerts, gates
    from monitoring.config import load_config
    from monitoring.labels import read_labels
    from monitoring.report import run_report
    from monitoring.store import InferenceStore

    version = version or champion_version(model, settings=settings)
    if version is None:
        raise ValueError(f"{model} has no champion; name a version")
    current = InferenceStore(store_root, settings.inference_log_remote, settings).read(model, start, end)
    if "model_version" in current:
        current = current[current["model_version"].astype(str) == str(version)]
    if current.empty:
        raise ValueError(
            f"no logged inferences of {model} version {version} in the window under {store_root}"
        )
    config = config or load_config(model)  # the registered model's name is its family's
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    report = run_report(
        model,
        current,
        load_reference(model, version, settings),
        read_labels(store_root),
        config=config,
        home=settings.home,
        out_dir=out_dir or settings.reports_dir / "monitoring" / model / stamp,
        version=str(version),
    )
    breaches = gates.check(report, config["thresholds"])
    path = None
    if breaches:
        path = alerts.raise_alerts(
            breaches,
            model=model,
            version=str(version),
            window=report["window"],
            alerts_dir=settings.home / "alerts",
            webhook_url=webhook_url,
        )
    return MonitoringResult(report, breaches, path)


def retrain(
    result: MonitoringResult,
    *,
    family: str,
    dataset_uri: str,
    store_root: Path,
    settings: Settings,
    host: str | None = None,
    overrides: str = "",
) -> str:
    """Start the training pipeline for a breached report, the logged window in the run's lineage:
    on the KFP at ``host`` (or ``settings.kfp_host``) when there is one, else here with kfp.local.
    ``overrides`` (JSON) changes the family's config. Returns the KFP run id, or the local run's directory.
    """
    import json

    from monitoring.alerts import retrain_request
    from pipelines.runner import run_local, submit
    from pipelines.training import training_pipeline

    remote = settings.inference_log_remote
    window_uri = f"{remote or store_root}/data/model_name={family}"
    request = retrain_request(
        result.breaches,
        result.report["window"],
        family=family,
        dataset_uri=dataset_uri,
        window_uri=window_uri,
    )
    arguments = {**request["arguments"], "lineage": json.dumps(request["lineage"], sort_keys=True)}
    host = host or settings.kfp_host
    if host:
        return submit(training_pipeline(), arguments, host=host, experiment=f"{family}-retraining")
    return str(run_local(training_pipeline(), arguments, settings=settings))
