"""Model cards built from real evaluation reports of tiny trained models, for both families."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.gates import run_gates
from components.model_card import model_description, version_card
from models import get_family
from models.common.tracking import NullTracker

pytestmark = pytest.mark.unit

LINEAGE = {"dataset_version": "md5-3f2a", "pipeline_run_id": "run-77", "git_commit": "abc123def"}


def _gate_tags(report: dict, gates: dict) -> dict[str, str]:
    """The tags ``promote`` writes for these gates (components/promotion.py)."""
    results = run_gates(report, gates)
    tags = {
        "gate.passed": str(all(r.passed for r in results.values())).lower(),
        "gate.compared_with": "no champion",
    }
    for name, result in results.items():
        tags[f"gate.{name}.passed"] = str(result.passed).lower()
        tags[f"gate.{name}.reasons"] = "; ".join(result.reasons)
        tags[f"gate.{name}.thresholds"] = json.dumps(gates[name])
    return tags


@pytest.fixture(scope="module")
def hearing_loss_report(tiny_split: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    spec = get_family("hearing_loss")
    out = tmp_path_factory.mktemp("card-model")
    # fold 1 holds subjects of two age groups, so the gaps have values (fold 0 has one group)
    model = spec.train.train(
        spec.train.tiny(), tiny_split, NullTracker(), out_dir=out, holdout=1, device="cpu"
    )
    return spec.evaluate.evaluate(spec.train.load(model), tiny_split, 1)


def test_hearing_loss_card_has_groups_gaps_probe_gates_and_lineage(hearing_loss_report: dict) -> None:
    spec = get_family("hearing_loss")
    report = hearing_loss_report
    gates = {"quality": {"f1": 2.0}, "fairness": dict(spec.evaluate.gates["fairness"])}
    card = version_card(spec, 4, report, {**LINEAGE, **_gate_tags(report, gates)})

    assert card.startswith("# hearing_loss version 4\n") and spec.summary in card
    # the paper's metric with its subject-bootstrap interval
    assert f"**f1 = {report['f1']:.4f} (95% CI {report['f1_low']:.4f} to {report['f1_high']:.4f})**" in card
    assert "`md5-3f2a`" in card and "`run-77`" in card and "`abc123def`" in card
    groups = [g for g in ("young", "mid", "old") if report.get(f"f1_{g}_low") is not None]
    assert len(groups) >= 2, report  # the fixture's premise
    for group in groups:
        row = next(line for line in card.splitlines() if line.startswith(f"| groups | {group} |"))
        low, high = report[f"f1_{group}_low"], report[f"f1_{group}_high"]
        assert f"{report[f'f1_{group}']:.4f} (95% CI {low:.4f} to {high:.4f})" in row
        assert f"{report[f'selection_rate_{group}']:.4f}" in row
    assert any(line.startswith("| gender | female |") for line in card.splitlines())
    assert "| groups | gap |" not in card  # f1_gap is a gap, not a group named "gap"
    gap_row = next(line for line in card.splitlines() if line.startswith("| groups | f1_gap |"))
    assert f"{report['f1_gap']:.4f}" in gap_row
    probe = card.split("## Age probe")[1].split("##")[0]
    if report.get("age_probe_r") is not None:
        assert f"{report['age_probe_r']:.4f}" in probe
    else:
        assert f"Not computed: {report['age_probe_subjects']} held-out subjects" in probe
    # the quality floor of 2.0 cannot be met: its row says failed with the gate's own reason
    quality = next(line for line in card.splitlines() if line.startswith("| quality |"))
    assert "**failed**" in quality and "is below the floor 2" in quality
    assert "Overall: **failed**" in card


def test_expression_card_shows_what_applies(tmp_path: Path) -> None:
    spec = get_family("expression")
    data = tmp_path / "data"
    spec.data.synthesize(spec.data.tiny(), data)
    spec.data.partitions.split(data, spec.data.partitions.k, 0)
    held = spec.data.partitions.holdout("")
    model = spec.train.train(
        spec.train.tiny(), data, NullTracker(), out_dir=tmp_path / "m", holdout=held, device="cpu"
    )
    report = spec.evaluate.evaluate(spec.train.load(model), data, held)
    card = version_card(spec, 1, report, {"git_commit": "abc"})

    assert f"**f1 = {report['f1']:.4f}**" in card and "gives no interval" in card
    assert "reports no per-group metrics" in card and "has no age probe" in card
    assert "Not gated yet" in card and "Dataset version: `not recorded`" in card
    # the per-class F1 scores are listed with their values
    assert f"| f1_other | {report['f1_other']:.4f} |" in card
    assert "| groups |" not in card


def test_model_description_names_the_family_paper_and_gates() -> None:
    spec = get_family("hearing_loss")
    text = model_description(spec)
    assert spec.summary in text and spec.paper in text
    assert all(name in text for name in spec.evaluate.gates)
