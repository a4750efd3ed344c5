"""The summary snapshot's numbers and the dashboard the platform writes: what applies to each family,
and re-writing it without duplicating or dropping a person's panels (a real local Evidently
workspace)."""

import pytest
from evidently.sdk.models import DashboardPanelPlot, PanelMetric
from evidently.ui.workspace import Workspace

from monitoring.config import load_config
from monitoring.dashboard import MANAGER, METRIC, dashboard_panels, update_dashboard
from monitoring.gates import Breach
from monitoring.summary import LABELS, SUMMARY_TAG, summary_frame, summary_snapshot

pytestmark = pytest.mark.unit


def _ci(value, low=None, high=None):
    return {"value": value, "low": low, "high": high}


def _report() -> dict:
    """A hand-written report: an overall scope and a skipped young group, one labelled feature."""
    group = {"n": 40, "f1": _ci(0.6, 0.5, 0.7), "tpr": _ci(0.7, 0.6, 0.8), "fpr": _ci(0.2, 0.1, 0.3)}
    return {
        "window": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-07T00:00:00+00:00"},
        "drift": {
            "overall": {
                "units": {"current": 80, "reference": 16},
                "drift_share": 0.25,
                "features": {"drifted_share": 0.5},
                "embedding": {"score": 0.7, "threshold": 0.66},
                "positive_rate": {"current": 0.4, "reference": None},
                "columns": {"age": {"score": 0.3}},
            },
            "young": {"units": {"current": 3, "reference": 2}, "skipped": "fewer than 10 subjects"},
        },
        "age_probe": {"r": -0.4, "p": 0.01, "subjects": 80},
        "fairness": {
            "age_group": {
                "groups": {"old": group | {"selection_rate": _ci(None)}},
                "f1_gap": _ci(None),
                "demographic_parity_difference": _ci(0.1, 0.0, 0.2),
                "equalized_odds_difference": _ci(0.2),
            }
        },
    }


def test_the_summary_holds_each_defined_number_once_by_its_labels() -> None:
    breach = Breach("abs_age_probe_r", "overall", 0.4, 0.3, "ceiling")
    frame = summary_frame(_report(), [breach])
    by_labels = {tuple(row[label] for label in LABELS): row["value"] for row in frame.to_dict("records")}
    assert len(by_labels) == len(frame)  # one row per number
    assert by_labels[("drift_share", "overall", "", "", "", "value")] == 0.25
    assert by_labels[("drift_score", "overall", "age", "", "", "value")] == 0.3
    assert by_labels[("embedding_auc_threshold", "overall", "", "", "", "value")] == 0.66
    assert by_labels[("age_probe_abs_r", "overall", "", "", "", "value")] == 0.4
    assert by_labels[("f1", "overall", "", "age_group", "old", "low")] == 0.5
    assert by_labels[("demographic_parity_difference", "overall", "", "age_group", "", "high")] == 0.2
    assert by_labels[("units", "young", "", "", "", "value")] == 3
    assert by_labels[("breaches", "overall", "", "", "", "value")] == 1
    assert by_labels[("breach", "overall", "abs_age_probe_r", "", "", "value")] == 1
    # undefined numbers are no points: a skipped scope's drift, a missing interval, an undefined rate
    assert not {("drift_share", "young"), ("reference_positive_rate", "overall")} & {k[:2] for k in by_labels}
    assert ("selection_rate", "overall", "", "age_group", "old", "value") not in by_labels
    assert ("equalized_odds_difference", "overall", "", "age_group", "", "low") not in by_labels
    assert not any(k[0] == "f1_gap" for k in by_labels)


def test_the_summary_snapshot_carries_the_numbers_as_report_values() -> None:
    report = _report()
    snapshot = summary_snapshot(
        report, [], name="hl v3 · summary", tags=["model:hl"], metadata={"model": "hl"}, timestamp=None
    )
    assert snapshot.get_name() == "hl v3 · summary"
    model = snapshot.to_snapshot_model()
    assert set(model.tags) == {"model:hl", SUMMARY_TAG} and model.metadata["kind"] == "summary"
    values = {}
    for result in model.metric_results.values():
        params = result.metric_value_location.metric.params
        assert params["type"] == METRIC
        values[tuple(params.get(label, "") for label in LABELS)] = result.value
    expected = summary_frame(report, [])
    assert values == {tuple(r[label] for label in LABELS): r["value"] for r in expected.to_dict("records")}


def _titles(panels) -> list[str]:
    return [p.title for p in panels]


def test_each_family_gets_the_panels_that_apply_to_it() -> None:
    hearing = _titles(dashboard_panels("hearing_loss", load_config("hearing_loss"), {"gender": ["male"]}))
    assert {"Age probe |r|", "Positive rate", "Embedding drift (domain classifier ROC AUC)"} <= set(hearing)
    for group in ("young", "mid", "old"):  # the config's age groups, in its order
        assert f"F1 and TPR: age_group {group}" in hearing
    assert hearing.index("F1 and TPR: age_group young") < hearing.index("F1 and TPR: age_group old")
    assert "FPR and Selection rate: gender male" in hearing
    assert "Demographic parity and equalized odds differences across gender" in hearing

    expression = _titles(dashboard_panels("expression", load_config("expression")))
    # no age groups, no prediction column, no age estimate, no labels: drift, features, alerts only
    assert expression == [
        "Latest window",
        "Drift share",
        "Input feature drift share",
        "Embedding drift (domain classifier ROC AUC)",
        "Alerts: gate breaches per window",
    ]
    drift_share = dashboard_panels("expression", load_config("expression"))[1]
    assert [v.legend for v in drift_share.values] == ["overall"]
    assert "Gate: ceiling 0.5, overall." in drift_share.subtitle


def test_panels_chart_report_values_of_summary_snapshots_with_at_most_six_series() -> None:
    for panel in dashboard_panels("hearing_loss", load_config("hearing_loss"), {"gender": ["f", "m"]}):
        assert panel.plot_params["managed_by"] == MANAGER
        assert len(panel.values) <= 6, panel.title  # the UI cycles six colours
        for series in panel.values:
            assert series.metric == METRIC and series.tags == [SUMMARY_TAG]
            assert set(series.metric_labels) <= set(LABELS)


def test_rewriting_the_dashboard_replaces_the_platforms_panels_and_keeps_a_persons(tmp_path) -> None:
    workspace = Workspace(str(tmp_path / "evidently"))
    project = workspace.create_project("hearing_loss")
    config = load_config("hearing_loss")
    mine = DashboardPanelPlot(
        title="My panel", subtitle=None, size="half", values=[PanelMetric(metric="RowCount")]
    )
    dashboard = workspace.get_dashboard(project.id)
    workspace.save_dashboard(project.id, dashboard.copy(update={"panels": [mine]}))

    first = update_dashboard(workspace, project.id, "hearing_loss", config, _report())
    again = update_dashboard(workspace, project.id, "hearing_loss", config, {"fairness": {}})
    stored = workspace.get_dashboard(project.id)
    assert _titles(stored.panels) == _titles(again.panels) == _titles(first.panels)
    assert len({p.id for p in stored.panels}) == len(stored.panels)  # nothing duplicated
    assert stored.panels[-1].title == "My panel"
    assert sum(p.plot_params.get("managed_by") == MANAGER for p in stored.panels) == len(
        dashboard_panels("hearing_loss", config)
    )

    # a config change shows at the next write: no probe gate, no probe panel
    config["columns"] = config["columns"] | {"age_estimate": None}
    changed = update_dashboard(workspace, project.id, "hearing_loss", config)
    assert "Age probe |r|" not in _titles(changed.panels) and "My panel" in _titles(changed.panels)


def test_groups_seen_once_keep_their_panels(tmp_path) -> None:
    workspace = Workspace(str(tmp_path / "evidently"))
    project = workspace.create_project("hearing_loss")
    config = load_config("hearing_loss")
    report = {"fairness": {"gender": {"groups": {"female": {}, "male": {}}}}}
    update_dashboard(workspace, project.id, "hearing_loss", config, report)
    # a later window without labelled women: her panels stay, the series keep their history
    later = {"fairness": {"gender": {"groups": {"male": {}}}}}
    titles = _titles(update_dashboard(workspace, project.id, "hearing_loss", config, later).panels)
    assert "F1 and TPR: gender female" in titles and "F1 and TPR: gender male" in titles
