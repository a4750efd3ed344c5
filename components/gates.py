"""Promotion gates: pure comparisons of an evaluation report with thresholds (STYLE.md §10).

Thresholds are grouped into named gates, each recorded on the model version on its own:

    {"quality": {"f1": 0.5, "f1_vs_champion": 0.02},
     "fairness": {"f1_young": 0.4, "f1_gap": 0.35},
     "age_probe": {"abs_age_probe_r": 0.5}}

A key's kind is read from its name: ``abs_*`` and ``*_gap`` / ``*_difference`` are ceilings,
``X_vs_champion`` is the largest drop of X allowed below the serving champion's X, anything else is
a floor. Where the report carries a bootstrap interval (``X_low`` / ``X_high``) a failure quotes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CEILING_PREFIXES = ("abs_",)
CEILING_SUFFIXES = ("_gap", "_difference")
VS_CHAMPION = "_vs_champion"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]  # one line per failed check; empty when passed
    checks: dict[str, float | None]  # the value each threshold was compared with (None: missing)
    failed: tuple[str, ...] = ()  # the threshold keys whose check failed, in threshold order

    def describe(self) -> str:
        return "passed" if self.passed else "failed: " + "; ".join(self.reasons)


def is_ceiling(key: str) -> bool:
    return key.startswith(CEILING_PREFIXES) or key.endswith(CEILING_SUFFIXES)


def _value(report: Mapping[str, Any], key: str) -> float | None:
    value = report.get(key)
    if value is None and key.startswith("abs_") and report.get(key[4:]) is not None:
        value = abs(report[key[4:]])  # abs_age_probe_r: |r| of the report's age_probe_r
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _interval(report: Mapping[str, Any], key: str) -> str:
    low, high = _value(report, f"{key}_low"), _value(report, f"{key}_high")
    return "" if low is None or high is None else f" (95% CI {low:.4f} to {high:.4f})"


def _check(
    report: Mapping[str, Any],
    key: str,
    threshold: float,
    champion: Mapping[str, Any] | None,
    checks: dict[str, float | None],
) -> str | None:
    """One threshold's check: records the compared value in ``checks``; the reason it failed, or None."""
    if key.endswith(VS_CHAMPION):
        metric = key[: -len(VS_CHAMPION)]
        value = checks[key] = _value(report, metric)
        if champion is None:
            return None
        best = _value(champion, metric)
        if value is None:
            return f"{metric}: missing from the evaluation report"
        if best is not None and value < best - threshold:
            return f"{metric} = {value:.4f} is more than {threshold:g} below the champion's {best:.4f}"
        return None
    value = checks[key] = _value(report, key)
    if value is None:
        return f"{key}: missing from the evaluation report"
    if is_ceiling(key) and value > threshold:
        return f"{key} = {value:.4f}{_interval(report, key)} is above the ceiling {threshold:g}"
    if not is_ceiling(key) and value < threshold:
        return f"{key} = {value:.4f}{_interval(report, key)} is below the floor {threshold:g}"
    return None


def gate(
    report: Mapping[str, Any],
    thresholds: Mapping[str, float],
    champion: Mapping[str, Any] | None = None,
) -> GateResult:
    """Compare ``report`` with one gate's ``thresholds``; ``champion`` is the serving version's report.

    A missing, None or NaN metric fails. Without a champion, ``X_vs_champion`` passes: the first
    version has nothing to be worse than.
    """
    checks: dict[str, float | None] = {}
    failures = {key: _check(report, key, value, champion, checks) for key, value in thresholds.items()}
    failed = tuple(key for key, reason in failures.items() if reason)
    reasons = [reason for reason in failures.values() if reason]
    return GateResult(passed=not failed, reasons=reasons, checks=checks, failed=failed)


def run_gates(
    report: Mapping[str, Any],
    gates: Mapping[str, Mapping[str, float]],
    champion: Mapping[str, Any] | None = None,
) -> dict[str, GateResult]:
    """Every named gate on ``report``: ``{"quality": GateResult, "fairness": ..., ...}``."""
    return {name: gate(report, thresholds, champion) for name, thresholds in gates.items()}


def parse_gates(value: Any) -> dict[str, dict[str, float]]:
    """Validate gate thresholds: ``{gate name: {metric: number}}``; raise ValueError saying what is wrong."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(
            f"gate thresholds must be a JSON object: gate name -> {{metric: number}}; got {value!r}"
        )
    gates: dict[str, dict[str, float]] = {}
    for name, thresholds in value.items():
        if not isinstance(thresholds, Mapping):
            raise ValueError(
                f"gate {name!r}: must map metric -> number, got {thresholds!r} "
                '(e.g. {"quality": {"f1": 0.5}, "fairness": {"f1_young": 0.4}})'
            )
        for metric, number in thresholds.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
                raise ValueError(
                    f"gate {name!r}: the threshold of {metric!r} must be a finite number, got {number!r}"
                )
        gates[str(name)] = {str(metric): float(number) for metric, number in thresholds.items()}
    return gates
