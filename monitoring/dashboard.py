"""The Evidently project dashboard of a monitored model, written by the platform at every report.

Every panel charts ``ReportValue`` series (monitoring/summary.py) of the model's summary snapshots
over time. Which panels a model gets is its family's monitoring config: per age group only with
``age_groups``, feature and embedding drift only with ``drift.feature_column``, the positive rate
only with ``columns.prediction``, the age probe only with ``columns.age_estimate``, fairness only
with ``fairness.label_column`` and its features.

Idempotent: the platform's panels carry ``plot_params["managed_by"]`` and fixed ids (a uuid5 of the
model and the panel's key), and each write replaces them as a whole, so re-running never duplicates
a panel and a config change shows at the next report; panels a person added by hand are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from evidently.sdk.models import DashboardModel, DashboardPanelPlot, PanelMetric
from evidently.ui.workspace import WorkspaceBase

from monitoring.summary import GAP_MEASURES, GROUP_MEASURES, SUMMARY_TAG

MANAGER = "affectops"
METRIC = "evidently:metric_v2:ReportValue"
BOUND_LEGENDS = {"value": "{{group}}", "low": "{{group}} low", "high": "{{group}} high"}
_PANEL_IDS = uuid.UUID("5f0c0d3e-8a55-4b59-9a1e-2c6f7a0f16d0")  # namespace of the panels' uuid5 ids
MEASURE_TITLES = {
    "f1": "F1",
    "tpr": "True positive rate",
    "fpr": "False positive rate",
    "selection_rate": "Selection rate",
}


def _series(measure: str, legend: str, **labels: str) -> PanelMetric:
    return PanelMetric(
        legend=legend, tags=[SUMMARY_TAG], metric=METRIC, metric_labels={"measure": measure} | labels
    )


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


def _gate(thresholds: Mapping[str, float], key: str, kind: str = "ceiling") -> str:
    return f" Gate: {kind} {thresholds[key]}, overall." if key in thresholds else ""


def dashboard_panels(model: str, config: Mapping[str, Any]) -> list[DashboardPanelPlot]:
    """The platform's panels for ``model`` as its monitoring ``config`` says, in display order."""
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
        _panel(
            model,
            "drift_scores",
            "Column drift scores (overall)",
            "Each compared column's distance: normed Wasserstein for numbers, Jensen-Shannon for categories.",
            [_series("drift_score", "{{column}}", scope="overall")],
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
        confidence = f"{fairness['confidence']:.0%}"
        for sensitive in fairness["features"]:
            for measure in GROUP_MEASURES:
                panels.append(
                    _panel(
                        model,
                        f"fairness/{sensitive}/{measure}",
                        f"{MEASURE_TITLES[measure]} by {sensitive}",
                        f"Per group on the labelled inferences, with the {confidence} subject-bootstrap "
                        "interval (low, high).",
                        [
                            _series(measure, legend, feature=sensitive, bound=bound)
                            for bound, legend in BOUND_LEGENDS.items()
                        ],
                    )
                )
            panels.append(
                _panel(
                    model,
                    f"fairness/{sensitive}/gaps",
                    f"Fairness gaps by {sensitive}",
                    "Demographic parity and equalized odds differences and the F1 gap (largest minus "
                    f"smallest group), with {confidence} intervals.",
                    [_series(m, f"{m} {{{{bound}}}}", feature=sensitive) for m in GAP_MEASURES],
                )
            )
    panels.append(
        _panel(
            model,
            "alerts",
            "Alerts: gate breaches per window",
            "Thresholds of the family's monitoring config the window crossed; each raised an alert.",
            [_series("breaches", "breaches"), _series("breach", "{{column}} ({{scope}})")],
            plot_type="bar",
            size="full",
        )
    )
    return panels


def update_dashboard(
    workspace: WorkspaceBase, project_id: Any, model: str, config: Mapping[str, Any]
) -> DashboardModel:
    """Write the platform's panels into the project's dashboard, replacing its earlier ones and
    keeping any a person added; returns the dashboard written."""
    current = workspace.get_dashboard(project_id)
    own = dashboard_panels(model, config)
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
