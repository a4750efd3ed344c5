"""A window's headline numbers as an Evidently snapshot the project dashboard charts over time.

Most of a report's numbers are computed outside Evidently (the per-subject drift verdicts, the
feature and embedding drift, fairlearn's fairness with bootstrap intervals, the age probe, the gate
breaches), so Evidently's own metrics cannot chart them. ``ReportValue`` is a custom Evidently
metric (``SingleValueMetric`` + ``SingleValueCalculation``) that reads one of them from the window's
summary table (``summary_frame``, one row per number), so each becomes a dashboard series keyed by
its labels (measure, scope, column, feature, group, bound) and the UI charts exactly what
``report.json`` holds. The labels are the metric's fields; the value is data, so every window's
value of one number falls into one series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.metric_types import SingleValue, SingleValueCalculation, SingleValueMetric
from evidently.core.report import Snapshot

from monitoring.gates import Breach

LABELS = ("measure", "scope", "column", "feature", "group", "bound")
INTERVAL_BOUNDS = ("value", "low", "high")
GROUP_MEASURES = ("f1", "tpr", "fpr", "selection_rate")
GAP_MEASURES = ("f1_gap", "demographic_parity_difference", "equalized_odds_difference")
SUMMARY_TAG = "kind:summary"  # the dashboard's panels read the snapshots tagged so


class ReportValue(SingleValueMetric):
    """One number of a monitoring report, by its labels; ``""``: the label does not apply.

    ``measure`` names the number (``drift_share``, ``f1``, ``breaches``, ...), ``scope`` the part of
    the window ("overall" or an age group), ``column`` a drift-compared column or a gate's threshold
    key, ``feature`` and ``group`` a sensitive feature and its group, ``bound`` the point value or an
    interval end ("value", "low", "high").
    """

    measure: str
    scope: str = "overall"
    column: str = ""
    feature: str = ""
    group: str = ""
    bound: str = "value"


class ReportValueCalculation(SingleValueCalculation[ReportValue]):
    def calculate(self, context, current_data: Dataset, reference_data: Dataset | None) -> SingleValue:
        table = current_data.as_dataframe()
        match = pd.Series(True, index=table.index)
        for label in LABELS:
            match &= table[label] == getattr(self.metric, label)
        values = table.loc[match, "value"]
        if len(values) != 1:
            raise ValueError(f"{self.display_name()}: {len(values)} rows in the summary table, need one")
        return self.result(float(values.iloc[0]))

    def display_name(self) -> str:
        named = [getattr(self.metric, label) for label in LABELS[1:]]
        return f"{self.metric.measure} ({', '.join(n for n in named if n and n != 'value')})"


def _rows(report: Mapping[str, Any], breaches: Sequence[Breach]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def put(measure: str, value: float | None, **labels: str) -> None:
        if value is not None:  # an undefined number (no labels yet, a skipped group) is no point
            rows.append(dict.fromkeys(LABELS, "") | {"scope": "overall", "bound": "value"} | labels)
            rows[-1] |= {"measure": measure, "value": float(value)}

    for scope, part in report["drift"].items():
        put("units", part["units"]["current"], scope=scope)
        if "skipped" in part:
            continue
        put("drift_share", part["drift_share"], scope=scope)
        put("feature_drift_share", part.get("features", {}).get("drifted_share"), scope=scope)
        embedding = part.get("embedding") or {}
        put("embedding_auc", embedding.get("score"), scope=scope)
        put("embedding_auc_threshold", embedding.get("threshold"), scope=scope)
        put("positive_rate", part["positive_rate"]["current"], scope=scope)
        put("reference_positive_rate", part["positive_rate"]["reference"], scope=scope)
        for column, verdict in part["columns"].items():
            put("drift_score", verdict["score"], scope=scope, column=column)
    probe = report["age_probe"]
    if probe is not None and probe["r"] is not None:
        put("age_probe_r", probe["r"])
        put("age_probe_abs_r", abs(probe["r"]))
    for feature, part in report["fairness"].items():
        for group, entry in part["groups"].items():
            put("labelled_rows", entry["n"], feature=feature, group=group)
            for measure in GROUP_MEASURES:
                for bound in INTERVAL_BOUNDS:
                    put(measure, entry[measure][bound], feature=feature, group=group, bound=bound)
        for measure in GAP_MEASURES:
            for bound in INTERVAL_BOUNDS:
                put(measure, part[measure][bound], feature=feature, bound=bound)
    put("breaches", len(breaches))
    for breach in breaches:
        put("breach", 1, scope=breach.scope, column=breach.metric)
    return rows


def summary_frame(report: Mapping[str, Any], breaches: Sequence[Breach]) -> pd.DataFrame:
    """The report's headline numbers, one row per number: its labels (``LABELS``) and ``value``.

    Per scope: units compared, drift share, feature drift share, embedding AUC and its threshold,
    positive rate (current and reference), each column's drift score; the age probe's r and |r|;
    per sensitive feature and group: labelled rows and F1 / TPR / FPR / selection rate with their
    interval bounds, and the feature's gaps; the number of gate breaches and one row per breach.
    """
    return pd.DataFrame(_rows(report, breaches), columns=[*LABELS, "value"])


def summary_snapshot(
    report: Mapping[str, Any],
    breaches: Sequence[Breach],
    *,
    name: str,
    tags: Sequence[str],
    metadata: Mapping[str, str],
    timestamp: datetime | None,
) -> Snapshot:
    """An Evidently snapshot with one ``ReportValue`` per row of ``summary_frame``, tagged ``tags`` and
    ``SUMMARY_TAG`` (its ``metadata`` with ``kind: summary``)."""
    frame = summary_frame(report, breaches)
    metrics = [ReportValue(**{label: row[label] for label in LABELS}) for row in frame.to_dict("records")]
    definition = DataDefinition(numerical_columns=["value"], categorical_columns=list(LABELS))
    dataset = Dataset.from_pandas(frame, data_definition=definition)
    return Report(metrics).run(
        dataset,
        None,
        name=name,
        tags=[*tags, SUMMARY_TAG],
        metadata={**metadata, "kind": "summary"},
        timestamp=timestamp,
    )
