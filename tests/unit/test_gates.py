"""The promotion gate on hand-written evaluation reports (STYLE.md §10)."""

import math

import pytest

from components.registry import gate, is_ceiling

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
