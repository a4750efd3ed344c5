"""The retraining trigger: a breached monitoring report starts the training pipeline.

``monitoring`` reports and gates a window (``monitoring.job.report_window``); starting a run is the
pipelines' part, so the caller (``affectops monitor report --retrain-dataset``) calls ``retrain`` after
the report.
"""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from monitoring.job import MonitoringResult


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
    if overrides:
        arguments["overrides"] = overrides
    host = host or settings.kfp_host
    if host:
        return submit(training_pipeline(), arguments, host=host, experiment=f"{family}-retraining")
    return str(run_local(training_pipeline(), arguments, settings=settings))
