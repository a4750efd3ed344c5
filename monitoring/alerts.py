"""Alerts from gate breaches: a durable JSON-lines record, an optional webhook, a retraining request."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitoring.gates import Breach

ALERTS_FILE = "alerts.jsonl"
WEBHOOK_TIMEOUT_S = 10
log = logging.getLogger(__name__)


def _post(url: str, record: Mapping[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(record).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            return {"url": url, "status": response.status}
    except (urllib.error.URLError, TimeoutError) as err:
        # the record on disk is the alert; a webhook that is down must not lose it
        log.warning("alert webhook %s failed: %s", url, err)
        return {"url": url, "error": str(getattr(err, "reason", err))}


def raise_alerts(
    breaches: Sequence[Breach],
    *,
    model: str,
    version: str | None,
    window: Mapping[str, Any],
    alerts_dir: Path,
    webhook_url: str | None = None,
) -> Path:
    """Append one alert record for ``breaches`` to ``alerts_dir/alerts.jsonl`` (nothing when there are
    none), after POSTing it as JSON to ``webhook_url`` if given; returns the file's path."""
    path = Path(alerts_dir) / ALERTS_FILE
    if not breaches:
        return path
    record: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(),
        "model": model,
        "version": version,
        "window": dict(window),
        "breaches": [b.as_dict() for b in breaches],
    }
    if webhook_url:
        record["webhook"] = _post(webhook_url, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(record) + "\n")
    return path


def retrain_request(
    breaches: Sequence[Breach],
    window: Mapping[str, Any],
    *,
    family: str,
    dataset_uri: str,
    window_uri: str,
    base_arguments: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Training-pipeline arguments for a retraining the breaches call for, and its lineage: the data
    it trains on plus the logged window (``window_uri``) that triggered it."""
    if not breaches:
        raise ValueError("breaches: none; a retraining is requested only for a breached gate")
    if not window_uri:
        raise ValueError("window_uri: name where the logged window lives, for the training data's lineage")
    arguments = {**(base_arguments or {}), "dataset_uri": dataset_uri, "family": family}
    lineage = {
        "trigger": "monitoring",
        "window": {**dict(window), "uri": window_uri},
        "sources": [dataset_uri, window_uri],
        "breaches": [b.message for b in breaches],
    }
    return {"arguments": arguments, "lineage": lineage}
