"""Model cards: a registered version's MLflow description, in Markdown, built from its logged evaluation
report and its tags; and the registered model's description, from the family's spec.

The card says what a reviewer in the MLflow UI needs before promoting: the family and its paper, the
dataset version, the paper's metric, per-group metrics and fairness gaps with their bootstrap
intervals, the age probe, each gate's verdict with its reasons, and the lineage (pipeline run, training
run, git commit). It shows only what applies: a family whose report has no groups or no age probe gets
a line saying so. ``version_card`` is pure (report and tags in, text out); ``write_cards`` reads both
from MLflow and writes the descriptions; registration, promotion and the registry guard call it.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.registry import client
from core.settings import Settings, load_settings

GROUP_METRICS = ("f1", "tpr", "fpr", "selection_rate")  # models/common/fairness.py flattens these
GAPS = ("f1_gap", "demographic_parity_difference", "equalized_odds_difference")
# a flattened fairness key: [<feature>_]<metric>_<group>; only keys with an interval beside them count,
# which leaves out look-alikes such as random_f1_young (a baseline) or f1_mid of a group with no data
_GROUP_KEY = re.compile(
    r"^(?P<prefix>(?:[a-z0-9]+_)*?)(?P<metric>f1|tpr|fpr|selection_rate)_(?P<group>[a-z0-9]+)$"
)
_GATE_TAG = re.compile(r"^gate\.(?P<name>[^.]+)\.passed$")
LINEAGE_TAGS = (
    ("pipeline run", "pipeline_run_id"),
    ("training run", "training_run_id"),
    ("git commit", "git_commit"),
    ("lineage", "lineage"),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _with_interval(report: Mapping[str, Any], key: str) -> str:
    """``0.6667 (95% CI 0.5000 to 0.8000)``; ``n/a`` when the report has no value."""
    value = _number(report.get(key))
    if value is None:
        return "n/a"
    low, high = _number(report.get(f"{key}_low")), _number(report.get(f"{key}_high"))
    interval = f" (95% CI {low:.4f} to {high:.4f})" if low is not None and high is not None else ""
    return f"{value:.4f}{interval}"


def _groups(report: Mapping[str, Any]) -> dict[str, list[str]]:
    """Grouping prefix ("" or "gender_") -> its groups, in report order; only keys with an interval."""
    found: dict[str, list[str]] = {}
    for key in report:
        match = _GROUP_KEY.match(key)
        if match and f"{key}_low" in report and not key.endswith(GAPS):
            groups = found.setdefault(match["prefix"], [])
            if match["group"] not in groups:
                groups.append(match["group"])
    return found


def _group_section(report: Mapping[str, Any]) -> tuple[list[str], set[str]]:
    groups = _groups(report)
    if not groups:
        return ["This family's evaluation reports no per-group metrics."], set()
    used: set[str] = set()
    lines = [
        "| grouping | group | " + " | ".join(GROUP_METRICS) + " |",
        "|---|---|" + "---|" * len(GROUP_METRICS),
    ]
    for prefix, names in groups.items():
        for group in names:
            keys = [f"{prefix}{metric}_{group}" for metric in GROUP_METRICS]
            used.update(k + suffix for k in keys for suffix in ("", "_low", "_high"))
            cells = " | ".join(_with_interval(report, key) for key in keys)
            lines.append(f"| {prefix.rstrip('_') or 'groups'} | {group} | {cells} |")
    lines += ["", "| grouping | gap | value |", "|---|---|---|"]
    for prefix in groups:
        for gap in GAPS:
            key = f"{prefix}{gap}"
            used.update(key + suffix for suffix in ("", "_low", "_high"))
            shown = _with_interval(report, key)
            if shown == "n/a":
                shown = "n/a (fewer than two groups with data)"
            lines.append(f"| {prefix.rstrip('_') or 'groups'} | {gap} | {shown} |")
    return lines, used


def _age_probe(report: Mapping[str, Any]) -> list[str]:
    if "age_probe_subjects" not in report and "age_probe_r" not in report:
        return ["This family's evaluation has no age probe."]
    r = _number(report.get("age_probe_r"))
    subjects = report.get("age_probe_subjects")
    if r is None:
        return [f"Not computed: {subjects} held-out subjects (it needs at least 3 with distinct ages)."]
    p = _number(report.get("age_probe_p"))
    p_text = f", p = {p:.3g}" if p is not None else ""
    return [
        f"Pearson r between the age estimate and true age: {r:.4f}{p_text} over {subjects} subjects "
        f"(|r| = {abs(r):.4f}; near 0 means age is not encoded)."
    ]


def _thresholds(text: str) -> str:
    """A gate's thresholds tag (JSON, components/promotion.py) as ``f1 0.55, f1_vs_champion 0.02``."""
    try:
        return ", ".join(f"{key} {value:g}" for key, value in json.loads(text).items())
    except (ValueError, AttributeError, TypeError):
        return text  # written by hand in the UI: shown as it is


def _gate_section(tags: Mapping[str, str]) -> list[str]:
    names = [match["name"] for key in sorted(tags) if (match := _GATE_TAG.match(key))]
    if not names:
        return [
            "Not gated yet: `affectops registry promote` or the pipeline's promote step records the verdicts."
        ]
    overall = "passed" if tags.get("gate.passed") == "true" else "failed"
    lines = [
        f"Overall: **{overall}** (checked {tags.get('gate.checked_at', '?')}, compared with "
        f"{tags.get('gate.compared_with', '?')}).",
        "",
        "| gate | verdict | thresholds | reasons |",
        "|---|---|---|---|",
    ]
    for name in names:
        verdict = "passed" if tags.get(f"gate.{name}.passed") == "true" else "**failed**"
        thresholds = _thresholds(tags.get(f"gate.{name}.thresholds", "{}"))
        reasons = tags.get(f"gate.{name}.reasons") or "-"
        lines.append(f"| {name} | {verdict} | {thresholds} | {reasons.replace('|', '/')} |")
    if tags.get("promotion.forced") == "true":
        lines += [
            "",
            f"Forced to champion by {tags.get('promotion.forced_by')}: {tags.get('promotion.reason')}",
        ]
    if tags.get("guard.rejected_at"):
        lines += [
            "",
            f"Set as champion in MLflow at {tags['guard.rejected_at']}; the registry guard put the alias "
            f"back: {tags.get('guard.rejected_reason', '')}",
        ]
    return lines


def version_card(spec: Any, version: int | str, report: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    """The Markdown model card of ``version`` of ``spec``'s family (a ``models.contract.FamilySpec``)."""
    metric = spec.evaluate.paper_metric
    groups, used = _group_section(report)
    used |= {metric, f"{metric}_low", f"{metric}_high", f"random_{metric}"}
    used |= {"age_probe_r", "age_probe_p", "age_probe_subjects"}
    baseline = _number(report.get(f"random_{metric}"))
    metric_line = f"**{metric} = {_with_interval(report, metric)}** on the held-out data"
    if f"{metric}_low" not in report:
        metric_line += " (the evaluation report gives no interval for it)"
    if baseline is not None:
        metric_line += f"; random guessing: {baseline:.4f}"
    others = [
        f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |"
        for key, value in report.items()
        if key not in used and _number(value) is not None
    ]
    lineage = [f"- {label}: `{tags[key]}`" for label, key in LINEAGE_TAGS if tags.get(key)]
    lines = [
        f"# {spec.name} version {version}",
        "",
        spec.summary,
        "",
        f"Paper: `{spec.paper}` (see the platform's papers). Dataset version: "
        f"`{tags.get('dataset_version', 'not recorded')}`.",
        "",
        "## The paper's metric",
        "",
        metric_line + ".",
        "",
        "## Per-group metrics and fairness gaps",
        "",
        "Subject-bootstrap 95% intervals; n/a: a group with no held-out data.",
        "",
        *groups,
        "",
        "## Age probe",
        "",
        *_age_probe(report),
        "",
        "## Promotion gates",
        "",
        *_gate_section(tags),
        "",
        "## Other metrics",
        "",
        *(["| metric | value |", "|---|---|", *others] if others else ["None."]),
        "",
        "## Lineage",
        "",
        *(lineage or ["- not recorded"]),
    ]
    return "\n".join(lines) + "\n"


def model_description(spec: Any) -> str:
    """The registered model's description: what the family does, its paper and its metric."""
    return (
        f"{spec.summary}\n\nPaper: `{spec.paper}`. The paper's metric: `{spec.evaluate.paper_metric}`. "
        f"Promotion to `champion` is held to the gates {', '.join(spec.evaluate.gates)}; each version's "
        "description is its model card.\n"
    )


def _report(run_id: str, settings: Settings) -> dict[str, Any]:
    """The evaluation report logged with the run (``evaluation.json``); the run's metrics without one."""
    from mlflow.exceptions import MlflowException

    from components.registry import EVALUATION_ARTIFACT

    mlflow_client = client(settings)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow_client.download_artifacts(run_id, EVALUATION_ARTIFACT, tmp)
            return json.loads(Path(path).read_text())
    except (MlflowException, OSError, ValueError):
        return dict(mlflow_client.get_run(run_id).data.metrics)


def write_cards(family: str, version: int | str, *, settings: Settings | None = None) -> str:
    """Write ``version``'s model card as its description, the family's as the registered model's; the card."""
    from models import get_family

    settings = settings or load_settings()
    spec = get_family(family)
    mlflow_client = client(settings)
    found = mlflow_client.get_model_version(family, str(version))
    card = version_card(spec, found.version, _report(found.run_id, settings), dict(found.tags))
    mlflow_client.update_model_version(family, str(version), description=card)
    mlflow_client.update_registered_model(family, description=model_description(spec))
    return card
