"""Prediction drift of a per-frame classifier: class shares in the inference record, compared per class."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from monitoring.config import load_config
from monitoring.drift import align_class_shares, scope_drift
from monitoring.records import class_shares, scalar_outputs

pytestmark = pytest.mark.unit

UNIFORM = np.full(8, 1 / 8)
HAPPY = np.array([0.08, 0.08, 0.08, 0.08, 0.44, 0.08, 0.08, 0.08])  # happiness (class 4) from 1/8 to 44%


def test_a_per_frame_class_output_becomes_its_class_shares() -> None:
    outputs = {
        "probabilities": np.full((6, 8), 1 / 8, np.float32),  # per-frame floats: dropped
        "labels": np.array([0, 0, 3, 3, 3, 7]),
    }
    assert scalar_outputs(outputs) == {
        "labels_share_0": 2 / 6,
        "labels_share_3": 3 / 6,
        "labels_share_7": 1 / 6,
    }
    # the hearing-loss record is unchanged: scalars keep their names
    assert scalar_outputs({"probability": np.float32(0.25), "label": np.int64(1)}) == {
        "probability": 0.25,
        "label": 1,
    }
    with pytest.raises(ValueError, match="labels: class indices must be >= 0"):
        class_shares("labels", np.array([0, -1]))
    with pytest.raises(ValueError, match="labels: class shares need integer"):
        class_shares("labels", np.array([0.5, 1.0]))


def test_absent_classes_are_zero_and_failed_requests_stay_missing() -> None:
    current = pd.DataFrame([{"labels_share_0": 1.0}, {"status": "error"}])
    reference = pd.DataFrame([{"labels_share_2": 0.5, "labels_share_5": 0.5}])
    current, reference = align_class_shares(current, reference)
    assert current[["labels_share_0", "labels_share_2", "labels_share_5"]].iloc[0].tolist() == [1.0, 0.0, 0.0]
    assert current[["labels_share_0", "labels_share_2"]].iloc[1].isna().all()
    assert reference[["labels_share_0", "labels_share_2", "labels_share_5"]].iloc[0].tolist() == [
        0.0,
        0.5,
        0.5,
    ]


def _window(classes: np.ndarray, requests: int, seed: int) -> pd.DataFrame:
    """Logged requests of 150 frames each, in the store's schema: per-request class mixes drawn around
    ``classes`` with expressions persisting over ~30-frame episodes, and a small input summary."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(requests):
        episodes = rng.choice(8, size=5, p=classes)
        labels = np.repeat(episodes, 30)
        outputs = {"probabilities": np.eye(8, dtype=np.float32)[labels], "labels": labels}
        summary = {"mae_mean": rng.standard_normal(16).astype(np.float32), "mae_frames": len(labels)}
        rows.append({"inference_id": f"{seed}-{k}", "status": "ok", **scalar_outputs(outputs), **summary})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def config() -> dict:
    return copy.deepcopy(load_config("expression"))


def test_a_shifted_class_mix_is_flagged_and_the_same_mix_is_not(config: dict) -> None:
    reference = _window(UNIFORM, 120, seed=0)
    same, _ = scope_drift(_window(UNIFORM, 120, seed=1), reference, config, feature="mae_mean")
    shifted, _ = scope_drift(_window(HAPPY, 120, seed=2), reference, config, feature="mae_mean")
    # one verdict on the whole class distribution, beside the window's other columns
    assert list(same["columns"]) == ["labels_shares"] == list(shifted["columns"])
    unchanged, moved = same["columns"]["labels_shares"], shifted["columns"]["labels_shares"]
    assert not unchanged["drifted"] and unchanged["score"] < unchanged["threshold"]
    assert unchanged["noise_floor"] > 0 and unchanged["score"] < 0.1
    assert moved["drifted"] and moved["score"] >= moved["threshold"] >= 0.1
    assert (shifted["drift_share"], same["drift_share"]) == (1.0, 0.0)
    # the report carries the two sides' class distributions: happiness (class 4) is the one that rose
    rise = {
        k: moved["shares"]["current"][k] - moved["shares"]["reference"][k] for k in moved["shares"]["current"]
    }
    assert max(rise, key=rise.get) == "4" and rise["4"] > 0.2


def test_class_distribution_is_compared_per_subject_when_rows_name_subjects(config: dict) -> None:
    from monitoring.drift import drift_report

    def with_subjects(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
        subjects = np.random.default_rng(seed).integers(0, 30, len(frame))
        return frame.assign(subject_pseudonym=[f"s{seed}-{k}" for k in subjects])

    reference = with_subjects(_window(UNIFORM, 240, seed=0), 0)
    report, _ = drift_report(with_subjects(_window(HAPPY, 240, seed=3), 3), reference, config)
    # the family's config: no age groups (its requests carry no age), so one scope
    assert list(report) == ["overall"]
    assert report["overall"]["unit"] == "subject" and report["overall"]["columns"]["labels_shares"]["drifted"]
    assert report["overall"]["feature_column"] == "mae_mean"  # "*_mean" matched the one input


def test_an_expression_report_charts_its_class_mix_drift_on_its_own_dashboard(config: dict, tmp_path) -> None:
    from evidently.ui.workspace import Workspace

    from monitoring.report import run_report, workspace_dir

    window = _window(HAPPY, 120, seed=2).assign(timestamp=pd.Timestamp("2026-01-08", tz="UTC"))
    report = run_report(
        "expression",
        window,
        _window(UNIFORM, 120, seed=0),
        None,
        config=config,
        home=tmp_path,
        out_dir=tmp_path,
    )
    workspace = Workspace(str(workspace_dir(tmp_path)))
    (project,) = workspace.search_project("expression")
    runs = [workspace.get_run(project.id, i) for i in workspace.list_runs(project.id)]
    # no age groups: one drift snapshot (overall) and the summary
    assert sorted(r.name for r in runs) == [
        "expression · overall drift · 2026-01-08 00:00 to 2026-01-08 00:00",
        "expression · summary · 2026-01-08 00:00 to 2026-01-08 00:00",
    ]
    (summary,) = [r for r in runs if r.metadata["kind"] == "summary"]
    values = {
        (p["measure"], p.get("column", "")): result.value
        for result in summary.metric_results.values()
        if (p := result.metric_value_location.metric.params)["scope"] == "overall"
    }
    # the class mix shifted: the only compared column drifted, so the drift share is 1, and it breached
    score = report["drift"]["overall"]["columns"]["labels_shares"]["score"]
    assert values[("drift_score", "labels_shares")] == pytest.approx(score)
    assert values[("drift_share", "")] == 1.0 and values[("breach", "drift_share")] == 1
    assert not {m for m, _ in values} & {"f1", "age_probe_abs_r", "positive_rate"}
    panels = workspace.get_dashboard(project.id).panels
    assert [p.title for p in panels][-1] == "Alerts: gate breaches per window" and len(panels) == 5
