"""The weekly monitoring job: one window of a serving version's logged inferences, reported and gated.

Report, then gate (STYLE.md §10): ``monitoring.report`` builds the dict; ``monitoring.gates`` compares it
with the configured thresholds; a breach becomes an alert record (and a webhook call). Starting a
retraining run on a breach is the pipelines' part (``pipelines.retrain``).
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
    truth = config["fairness"]["label_column"]  # None: the family gets no ground truth back
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    report = run_report(
        model,
        current,
        load_reference(model, version, settings),
        read_labels(store_root, truth) if truth else None,
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
