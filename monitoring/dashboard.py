"""The Evidently project dashboard of a monitored model, written by the platform at every report.

Every panel charts ``ReportValue`` series (monitoring/summary.py) of the model's summary snapshots
over time, at most six series a known panel (the UI cycles six colours): the latest window's numbers, drift
share overall and per age group, input feature and embedding drift, positive rate, the age probe,
per sensitive feature and group its F1 / TPR and FPR / selection rate with their bootstrap
intervals, the feature's F1 gap and demographic parity / equalized odds differences, and the gate
breaches (alerts: one series per breached gate, stacked). The local UI shows a dashboard's panels
on one page (it has no tabs).

Which panels a model gets is its family's monitoring config: per age group only with
``age_groups``, feature and embedding drift only with ``drift.feature_column``, the positive rate
only with ``columns.prediction``, the age probe only with ``columns.age_estimate``, fairness only
with ``fairness.label_column`` and its features.

Idempotent: the platform's panels carry ``plot_params["managed_by"]`` and fixed ids (a uuid5 of the
model and the panel's key), and each write replaces them as a whole, so re-running never duplicates
a panel and a config change shows at the next report; panels a person added by hand are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from evidently.sdk.models import DashboardModel, DashboardPanelPlot, PanelMetric
from evidently.ui.workspace import WorkspaceBase

from monitoring.drift import AGE_GROUP
from monitoring.summary import GAP_MEASURES, INTERVAL_BOUNDS, SUMMARY_TAG

MANAGER = "affectops"
METRIC = "evidently:metric_v2:ReportValue"
GAP_TITLES = {"demographic_parity_difference": "DP difference", "equalized_odds_difference": "EO difference"}
_PANEL_IDS = uuid.UUID("5f0c0d3e-8a55-4b59-9a1e-2c6f7a0f16d0")  # namespace of the panels' uuid5 ids
MEASURE_TITLES = {
    "f1": "F1",
    "tpr": "TPR",
    "fpr": "FPR",
    "selection_rate": "Selection rate",
}


def _series(measure: str, legend: str, **labels: str) -> PanelMetric:
    return PanelMetric(
        legend=legend, tags=[SUMMARY_TAG], metric=METRIC, metric_labels={"measure": measure} | labels
    )


def _bounded(measure: str, title: str, **labels: str) -> list[PanelMetric]:
    """A measure's point value and its interval's ends, as three series."""
    legends = {"value": title, "low": f"{title} low", "high": f"{title} high"}
    return [_series(measure, legends[b], bound=b, **labels) for b in INTERVAL_BOUNDS]


def _panel(
    model: str, key: str, title: str, subtitle: str, values: list[PanelMetric], **plot: Any
) -> DashboardPanelPlot:
    return DashboardPanelPlot(
        id=uuid.uuid5(_PANEL_IDS, f"{model}/{key}"),
        title=title,
        subtitle=subtitle,
        size=plot.pop("size", "half"),
        values=values,
        plot_params={"plot_type": plot.pop("plot_type", "line"), "managed_by": MANAGER, **plot},
    )


def _gate(thresholds: Mapping[str, float], key: str, where: str = "overall") -> str:
    """The gate on ``key`` as a subtitle's sentence; nothing when the family sets none."""
    return f" Gate: ceiling {thresholds[key]}, {where}." if key in thresholds else ""


def _fairness_panels(
    model: str, config: Mapping[str, Any], groups: Mapping[str, Sequence[str]]
) -> list[DashboardPanelPlot]:
    """Per sensitive feature: per group, F1 and TPR, then FPR and selection rate, each with its
    interval (six series a panel: the UI has six colours); then the F1 gap, and the demographic
    parity and equalized odds differences."""
    fairness = config["fairness"]
    confidence = f"{fairness['confidence']:.0%}"
    subtitle = f"On the labelled inferences, with the {confidence} subject-bootstrap interval (low, high)."
    panels = []
    for feature in fairness["features"]:
        for group in feature_groups(config, feature, groups.get(feature, ())):
            for pair in (("f1", "tpr"), ("fpr", "selection_rate")):
                names = " and ".join(MEASURE_TITLES[m] for m in pair)
                values = [
                    s for m in pair for s in _bounded(m, MEASURE_TITLES[m], feature=feature, group=group)
                ]
                panel = _panel(
                    model,
                    f"fairness/{feature}/{group}/{'+'.join(pair)}",
                    f"{names}: {feature} {group}",
                    subtitle,
                    values,
                )
                panel.plot_params["fairness_group"] = [feature, group]
                panels.append(panel)
        gap = _bounded("f1_gap", "F1 gap", feature=feature)
        differences = [s for m in GAP_MEASURES[1:] for s in _bounded(m, GAP_TITLES[m], feature=feature)]
        panels += [
            _panel(
                model,
                f"fairness/{feature}/f1_gap",
                f"F1 gap across {feature}",
                f"Largest minus smallest group F1, with its {confidence} interval."
                f"{_gate(config['thresholds'], 'f1_gap', 'each feature')}",
                gap,
            ),
            _panel(
                model,
                f"fairness/{feature}/differences",
                f"Demographic parity and equalized odds differences across {feature}",
                f"Largest gaps in selection rate, and in TPR or FPR, with {confidence} intervals."
                f"{_gate(config['thresholds'], 'demographic_parity_difference', 'each feature')}",
                differences,
            ),
        ]
    return panels


def feature_groups(config: Mapping[str, Any], feature: str, seen: Sequence[str]) -> list[str]:
    """A sensitive feature's groups: the config's age groups for the age group, in their order, then
    any other group ``seen`` (in reports, or in panels written before), sorted."""
    known = list(config.get("age_groups") or {}) if feature == AGE_GROUP else []
    return known + sorted(set(seen) - set(known))


def dashboard_panels(
    model: str, config: Mapping[str, Any], groups: Mapping[str, Sequence[str]] | None = None
) -> list[DashboardPanelPlot]:
    """The platform's panels for ``model`` as its monitoring ``config`` says, in display order;
    ``groups``: each sensitive feature's groups beyond the config's age groups (e.g. genders)."""
    thresholds, columns = config["thresholds"], config["columns"]
    scopes = ["overall", *(config.get("age_groups") or {})]
    feature = config["drift"]["feature_column"]
    fairness = config["fairness"]
    by_scope = " overall and per age group" if len(scopes) > 1 else ""

    def per_scope(measure: str) -> list[PanelMetric]:
        return [_series(measure, scope, scope=scope) for scope in scopes]

    latest = [_series("drift_share", "drift share", scope="overall")]
    if feature is not None:
        latest += [
            _series("feature_drift_share", "feature drift share", scope="overall"),
            _series("embedding_auc", "embedding AUC", scope="overall"),
        ]
    if columns["prediction"] is not None:
        latest.append(_series("positive_rate", "positive rate", scope="overall"))
    if columns["age_estimate"] is not None:
        latest.append(_series("age_probe_abs_r", "age probe |r|"))
    latest.append(_series("breaches", "gate breaches"))
    panels = [
        _panel(
            model,
            "latest",
            "Latest window",
            "The newest report's headline numbers, overall.",
            latest,
            plot_type="counter",
            aggregation="last",
            size="full",
        ),
        _panel(
            model,
            "drift_share",
            "Drift share",
            f"Share of the compared columns that drifted{by_scope}.{_gate(thresholds, 'drift_share')}",
            per_scope("drift_share"),
        ),
    ]
    if feature is not None:
        panels += [
            _panel(
                model,
                "feature_drift_share",
                "Input feature drift share",
                f"Share of the input summary's dimensions that drifted{by_scope}."
                f"{_gate(thresholds, 'feature_drift_share')}",
                per_scope("feature_drift_share"),
            ),
            _panel(
                model,
                "embedding_drift",
                "Embedding drift (domain classifier ROC AUC)",
                "ROC AUC of telling the window from the reference, and its threshold (raised to chance)."
                f"{_gate(thresholds, 'embedding_drift_score')}",
                [
                    *per_scope("embedding_auc"),
                    _series("embedding_auc_threshold", "threshold", scope="overall"),
                ],
            ),
        ]
    if columns["prediction"] is not None:
        panels.append(
            _panel(
                model,
                "positive_rate",
                "Positive rate",
                f"Share of inferences predicted positive{by_scope}, and the reference's (overall).",
                [
                    *per_scope("positive_rate"),
                    _series("reference_positive_rate", "reference", scope="overall"),
                ],
            )
        )
    if columns["age_estimate"] is not None:
        panels.append(
            _panel(
                model,
                "age_probe",
                "Age probe |r|",
                "|Pearson r| of the model's age estimate and true age over subjects: age must not become "
                f"a shortcut.{_gate(thresholds, 'abs_age_probe_r')}",
                [_series("age_probe_abs_r", "|r|")],
            )
        )
    if fairness["label_column"] is not None:
        panels += _fairness_panels(model, config, groups or {})
    panels.append(
        _panel(
            model,
            "alerts",
            "Alerts: gate breaches per window",
            "Thresholds of the family's monitoring config each window crossed (stacked: the bar's "
            "height is the window's number of breaches); each raised an alert.",
            [_series("breach", "{{column}} ({{scope}})")],
            plot_type="bar",
            is_stacked=True,
            size="full",
        )
    )
    return panels


def update_dashboard(
    workspace: WorkspaceBase,
    project_id: Any,
    model: str,
    config: Mapping[str, Any],
    report: Mapping[str, Any] | None = None,
) -> DashboardModel:
    """Write the platform's panels into the project's dashboard, replacing its earlier ones and
    keeping any a person added; a sensitive feature's groups are those of ``report``'s fairness and
    of the panels written before. Returns the dashboard written."""
    current = workspace.get_dashboard(project_id)
    groups: dict[str, set[str]] = {}
    for part_feature, part in ((report or {}).get("fairness") or {}).items():
        groups.setdefault(part_feature, set()).update(part["groups"])
    for panel in current.panels:
        if panel.plot_params.get("managed_by") == MANAGER and "fairness_group" in panel.plot_params:
            feature, group = panel.plot_params["fairness_group"]
            groups.setdefault(feature, set()).add(group)
    own = dashboard_panels(model, config, {f: sorted(g) for f, g in groups.items()})
    own_ids = {panel.id for panel in own}
    kept = [p for p in current.panels if p.plot_params.get("managed_by") != MANAGER and p.id not in own_ids]
    kept_ids = {p.id for p in kept}
    tabs = [tab.copy(update={"panels": [i for i in tab.panels if i in kept_ids]}) for tab in current.tabs]
    if tabs:
        # a person's tabs: the platform's panels go to the first one
        tabs[0] = tabs[0].copy(update={"panels": [p.id for p in own] + tabs[0].panels})
    dashboard = DashboardModel(tabs=tabs, panels=own + kept)
    workspace.save_dashboard(project_id, dashboard)
    return dashboard
