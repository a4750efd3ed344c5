"""The promotion gate on hand-written evaluation reports (STYLE.md §10)."""

import math

import pytest

from components.gates import gate, is_ceiling, parse_gates, run_gates

pytestmark = pytest.mark.unit

THRESHOLDS = {"f1": 0.6, "f1_young": 0.3, "abs_age_probe_r": 0.3}
GOOD = {"f1": 0.7, "f1_young": 0.5, "f1_old": 0.8, "age_probe_r": -0.1, "segments": 40}


def test_passes_when_every_floor_and_ceiling_holds() -> None:
    result = gate(GOOD, THRESHOLDS)
    assert result.passed and result.reasons == []
    assert result.checks == {"f1": 0.7, "f1_young": 0.5, "abs_age_probe_r": 0.1}
    assert result.describe() == "passed"


def test_floor_is_inclusive_and_fails_below() -> None:
    assert gate({"f1": 0.6}, {"f1": 0.6}).passed
    result = gate({**GOOD, "f1_young": 0.2}, THRESHOLDS)
    assert not result.passed
    assert result.reasons == ["f1_young = 0.2000 is below the floor 0.3"]


def test_abs_key_is_a_ceiling_on_the_magnitude() -> None:
    result = gate({**GOOD, "age_probe_r": -0.45}, THRESHOLDS)
    assert not result.passed
    assert result.reasons == ["abs_age_probe_r = 0.4500 is above the ceiling 0.3"]
    # a report that already carries the abs_ key is read as is
    assert gate({"abs_age_probe_r": 0.2}, {"abs_age_probe_r": 0.3}).passed


@pytest.mark.parametrize("missing", [None, math.nan, "n/a"])
def test_missing_none_or_nan_metric_fails_with_its_name(missing) -> None:
    result = gate({**GOOD, "f1_young": missing}, THRESHOLDS)
    assert not result.passed
    assert result.reasons == ["f1_young: missing from the evaluation report"]
    assert result.checks["f1_young"] is None


def test_every_failure_is_reported() -> None:
    result = gate({"f1": 0.1}, THRESHOLDS)
    assert len(result.reasons) == 3
    assert result.describe().startswith("failed: f1 = 0.1000 is below")


def test_ceiling_keys() -> None:
    assert is_ceiling("abs_age_probe_r") and is_ceiling("f1_gap")
    assert not is_ceiling("f1") and not is_ceiling("f1_young")
    assert is_ceiling("equalized_odds_difference") and not is_ceiling("f1_vs_champion")


def test_a_failure_quotes_the_bootstrap_interval_when_the_report_has_one() -> None:
    report = {"f1_young": 0.35, "f1_young_low": 0.21, "f1_young_high": 0.47, "f1_gap": 0.4}
    result = gate(report, {"f1_young": 0.4, "f1_gap": 0.3})
    assert result.reasons == [
        "f1_young = 0.3500 (95% CI 0.2100 to 0.4700) is below the floor 0.4",
        "f1_gap = 0.4000 is above the ceiling 0.3",
    ]


def test_vs_champion_allows_a_drop_up_to_the_tolerance() -> None:
    thresholds = {"f1_vs_champion": 0.02}
    champion = {"f1": 0.70}
    assert gate({"f1": 0.68}, thresholds, champion).passed  # exactly the tolerance
    worse = gate({"f1": 0.67}, thresholds, champion)
    assert worse.reasons == ["f1 = 0.6700 is more than 0.02 below the champion's 0.7000"]
    assert worse.checks == {"f1_vs_champion": 0.67}
    # the first version has no champion to be worse than; a missing metric still fails with one
    assert gate({"f1": 0.1}, thresholds, None).passed
    assert gate({}, thresholds, champion).reasons == ["f1: missing from the evaluation report"]


def test_run_gates_reports_each_named_gate_on_its_own() -> None:
    gates = {
        "quality": {"f1": 0.6, "f1_vs_champion": 0.05},
        "fairness": {"f1_young": 0.45, "f1_gap": 0.3},
        "age_probe": {"abs_age_probe_r": 0.3},
    }
    report = {"f1": 0.7, "f1_young": 0.5, "f1_gap": 0.35, "age_probe_r": 0.1}
    results = run_gates(report, gates, champion={"f1": 0.72})
    assert {name: r.passed for name, r in results.items()} == {
        "quality": True,
        "fairness": False,
        "age_probe": True,
    }
    assert results["fairness"].reasons == ["f1_gap = 0.3500 is above the ceiling 0.3"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"f1": 0.5}, "gate 'f1': must map metric -> number"),
        ({}, "gate name -> {metric: number}"),
        ({"quality": {"f1": "high"}}, "threshold of 'f1' must be a finite number"),
        ({"quality": {"f1": True}}, "threshold of 'f1' must be a finite number"),
        ({"quality": {"f1": math.inf}}, "threshold of 'f1' must be a finite number"),
    ],
)
def test_parse_gates_names_what_is_wrong(value, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_gates(value)
    assert parse_gates({"quality": {"f1": 1}}) == {"quality": {"f1": 1.0}}
