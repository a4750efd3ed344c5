"""The monitoring gate: a report dict against the configured thresholds (STYLE.md §10).

Drift thresholds apply to the whole window (the per-age-group scopes are small samples, reported
for reading, not gated); fairness thresholds to every sensitive feature in the report. A metric
the report lacks (labels not joined yet, too few subjects for the age probe) is not a breach:
ground truth arrives late, and its absence is not evidence of harm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Breach:
    """One threshold a report crossed."""

    metric: str
    scope: str  # "overall", or a sensitive feature such as "age_group"
    value: float
    threshold: float
    kind: str  # "ceiling" or "floor"
    interval: tuple[float, float] | None = None

    @property
    def message(self) -> str:
        side = "above the ceiling" if self.kind == "ceiling" else "below the floor"
        ci = f" (CI {self.interval[0]:.3f} to {self.interval[1]:.3f})" if self.interval else ""
        return f"{self.scope}: {self.metric} = {self.value:.3f}{ci} is {side} {self.threshold}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"message": self.message}


def _overall(path: tuple[str, ...]) -> Callable[[Mapping], list[tuple[str, Any]]]:
    def read(report: Mapping) -> list[tuple[str, Any]]:
        value: Any = report.get("drift", {}).get("overall", {})
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return [("overall", {"value": value})]

    return read


def _fairness(read: Callable[[Mapping], Any], features: tuple[str, ...] | None = None):
    def each(report: Mapping) -> list[tuple[str, Any]]:
        parts = report.get("fairness") or {}
        return [(f, read(part)) for f, part in parts.items() if features is None or f in features]

    return each


def _group_f1(group: str) -> Callable[[Mapping], list[tuple[str, Any]]]:
    """``f1_<group>``: a floor on one group's F1 in every sensitive feature that has that group."""

    def each(report: Mapping) -> list[tuple[str, Any]]:
        parts = report.get("fairness") or {}
        having = [
            (f, part["groups"][group].get("f1"))
            for f, part in parts.items()
            if group in part.get("groups", {})
        ]
        if parts and not having:
            known = sorted({g for part in parts.values() for g in part.get("groups", {})})
            raise ValueError(f"thresholds['f1_{group}']: no group {group!r} in the report; groups: {known}")
        return having

    return each


def _column_drift(column: str) -> Callable[[Mapping], list[tuple[str, Any]]]:
    """``drift_<column>``: a ceiling on one record column's drift distance over the whole window, as a
    multiple of its drift threshold (the larger of the effect size and its chance level): a shift in
    one column (a gender mix, say) that the share of drifted columns dilutes."""

    def read(report: Mapping) -> list[tuple[str, Any]]:
        overall = report.get("drift", {}).get("overall") or {}
        columns = overall.get("columns") or {}
        entry = columns.get(column)
        if entry is None:
            if columns and column not in (overall.get("skipped_columns") or []):
                known = sorted(columns)
                raise ValueError(
                    f"thresholds['drift_{column}']: no column {column!r} in the report; columns: {known}"
                )
            return [("overall", {"value": None})]
        return [("overall", {"value": entry["score"] / entry["threshold"]})]

    return read


def _embedding(report: Mapping) -> list[tuple[str, Any]]:
    # the ceiling is an effect size; at small samples it is raised to the AUC chance alone reaches
    embedding = report.get("drift", {}).get("overall", {}).get("embedding") or {}
    return [("overall", {"value": embedding.get("score"), "raise_to": embedding.get("chance_level")})]


def _probe(report: Mapping) -> list[tuple[str, Any]]:
    r = (report.get("age_probe") or {}).get("r")
    return [("overall", {"value": None if r is None else abs(r)})]


# threshold key -> (kind, reader giving (scope, {"value", "low"?, "high"?}) pairs); besides these,
# ``f1_<group>`` (say ``f1_young``) is a floor on that group's F1 and ``drift_<column>`` a ceiling on
# one column's drift (``_rule``)
RULES: dict[str, tuple[str, Callable[[Mapping], list[tuple[str, Any]]]]] = {
    "drift_share": ("ceiling", _overall(("drift_share",))),
    "feature_drift_share": ("ceiling", _overall(("features", "drifted_share"))),
    "embedding_drift_score": ("ceiling", _embedding),
    "abs_age_probe_r": ("ceiling", _probe),
    "f1_gap": ("ceiling", _fairness(lambda part: part.get("f1_gap"))),
    "demographic_parity_difference": (
        "ceiling",
        _fairness(lambda part: part.get("demographic_parity_difference")),
    ),
    "equalized_odds_difference": ("ceiling", _fairness(lambda part: part.get("equalized_odds_difference"))),
}


@dataclass(frozen=True)
class Reading:
    """What a gate reads off a report in one scope; ``raise_to``: a ceiling's chance level, if any."""

    scope: str
    value: float
    low: float | None = None
    high: float | None = None
    raise_to: float | None = None


def readings(report: Mapping[str, Any], keys) -> dict[str, list[Reading]]:
    """Per threshold key, the values its gate reads in ``report`` (scopes where the report has none
    are left out); the benchmark of the gates as a detector reads these to set thresholds."""
    unknown = sorted(key for key in keys if _rule(key) is None)
    if unknown:
        raise ValueError(
            f"thresholds: unknown key(s) {unknown}; known: {sorted(RULES)} and f1_<group>, drift_<column>"
        )
    found: dict[str, list[Reading]] = {}
    for key in keys:
        found[key] = [
            Reading(scope, float(ci["value"]), ci.get("low"), ci.get("high"), ci.get("raise_to"))
            for scope, ci in _rule(key)[1](report)
            if (ci or {}).get("value") is not None
        ]
    return found


def crossed(kind: str, reading: Reading, threshold: float) -> float | None:
    """The limit ``reading`` crossed (a ceiling raised to its chance level), or None."""
    limit = max(threshold, reading.raise_to or threshold)
    hit = reading.value > limit if kind == "ceiling" else reading.value < limit
    return limit if hit else None


def check(report: Mapping[str, Any], thresholds: Mapping[str, float]) -> list[Breach]:
    """Every threshold ``report`` crosses, in the order of ``thresholds``; empty when it passes."""
    read = readings(report, list(thresholds))
    breaches = []
    for key, threshold in thresholds.items():
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
            raise ValueError(f"thresholds[{key!r}]: must be a number, got {threshold!r}")
        kind = kind_of(key)
        for reading in read[key]:
            limit = crossed(kind, reading, threshold)
            if limit is not None:
                low, high = reading.low, reading.high
                interval = (low, high) if low is not None and high is not None else None
                breaches.append(Breach(key, reading.scope, reading.value, float(limit), kind, interval))
    return breaches


def kind_of(key: str) -> str:
    """``ceiling`` or ``floor``: which side of a threshold key's value is a breach."""
    rule = _rule(key)
    if rule is None:
        raise ValueError(
            f"thresholds: unknown key {key!r}; known: {sorted(RULES)} and f1_<group>, drift_<column>"
        )
    return rule[0]


def _rule(key: str) -> tuple[str, Callable[[Mapping], list[tuple[str, Any]]]] | None:
    if key in RULES:
        return RULES[key]
    if key.startswith("f1_") and len(key) > 3:
        return "floor", _group_f1(key[3:])
    if key.startswith("drift_") and len(key) > 6:
        return "ceiling", _column_drift(key[6:])
    return None
