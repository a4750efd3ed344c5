"""Group fairness metrics against hand-computed values, and their bootstrap intervals."""

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.metrics import f1_score

from models.common.fairness import fairness_report, flatten_fairness, overall_interval

pytestmark = pytest.mark.unit

# group a: TP 2, FN 1, FP 1, TN 1; group b: TP 1, FN 1, FP 1, TN 1; group c: no positives, FP 1, TN 3
TABLE = {
    "y_true": [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0],
    "y_pred": [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1],
    "group": list("aaaaabbbbcccc"),
}


def test_values_equal_hand_computed_ones() -> None:
    report = fairness_report(TABLE["y_true"], TABLE["y_pred"], {"age_group": TABLE["group"]}, n_boot=0)
    part = report["age_group"]
    value = {
        g: {m: part["groups"][g][m]["value"] for m in ("f1", "tpr", "fpr", "selection_rate")} for g in "abc"
    }
    assert value["a"] == pytest.approx({"f1": 4 / 6, "tpr": 2 / 3, "fpr": 1 / 2, "selection_rate": 3 / 5})
    assert value["b"] == pytest.approx({"f1": 2 / 4, "tpr": 1 / 2, "fpr": 1 / 2, "selection_rate": 2 / 4})
    # c has no positives: F1 and TPR are undefined, not 0
    assert value["c"]["f1"] is None and value["c"]["tpr"] is None
    assert value["c"]["fpr"] == pytest.approx(1 / 4) and value["c"]["selection_rate"] == pytest.approx(1 / 4)
    assert [part["groups"][g]["n"] for g in "abc"] == [5, 4, 4]
    # gaps over the groups where the metric is defined
    assert part["f1_gap"]["value"] == pytest.approx(4 / 6 - 2 / 4)
    assert part["demographic_parity_difference"]["value"] == pytest.approx(3 / 5 - 1 / 4)
    # max(TPR gap a-b = 1/6, FPR gap a-c = 1/4)
    assert part["equalized_odds_difference"]["value"] == pytest.approx(1 / 4)
    assert part["f1_gap"]["low"] is None  # no bootstrap asked for


def test_gaps_agree_with_fairlearn_where_every_group_is_defined() -> None:
    y_true, y_pred, group = (np.array(TABLE[k][:9]) for k in ("y_true", "y_pred", "group"))
    part = fairness_report(y_true, y_pred, {"g": group}, n_boot=0)["g"]
    dpd = demographic_parity_difference(y_true, y_pred, sensitive_features=group)
    eod = equalized_odds_difference(y_true, y_pred, sensitive_features=group)
    assert part["demographic_parity_difference"]["value"] == pytest.approx(dpd)
    assert part["equalized_odds_difference"]["value"] == pytest.approx(eod)


def _clustered(seed: int, subjects: int = 40, segments: int = 25):
    """Segments of a subject share its label and mostly its prediction: strongly correlated."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(subjects), segments)
    y_true = np.repeat(rng.integers(0, 2, subjects), segments)
    right = np.repeat(rng.random(subjects) < 0.75, segments) ^ (rng.random(subjects * segments) < 0.05)
    y_pred = np.where(right, y_true, 1 - y_true)
    group = np.repeat(rng.choice(["young", "old"], subjects), segments)
    return y_true, y_pred, group, subject


def test_interval_contains_the_value_and_is_deterministic() -> None:
    y_true, y_pred, group, subject = _clustered(1)
    report = fairness_report(y_true, y_pred, {"age_group": group}, clusters=subject, n_boot=200, seed=3)
    part = report["age_group"]
    for ci in [
        part["groups"][g][m] for g in ("young", "old") for m in ("f1", "tpr", "fpr", "selection_rate")
    ] + [
        part["f1_gap"],
        part["demographic_parity_difference"],
        part["equalized_odds_difference"],
    ]:
        assert ci["low"] <= ci["value"] <= ci["high"], ci
        assert ci["low"] < ci["high"]
    assert report == fairness_report(
        y_true, y_pred, {"age_group": group}, clusters=subject, n_boot=200, seed=3
    )
    other = fairness_report(y_true, y_pred, {"age_group": group}, clusters=subject, n_boot=200, seed=4)
    assert other["age_group"]["f1_gap"]["low"] != part["f1_gap"]["low"]
    assert part["bootstrap"] == {"n_boot": 200, "skipped": 0, "unit": "cluster", "confidence": 0.95}


def test_overall_interval_is_the_whole_populations_metric_with_its_cluster_bootstrap() -> None:
    y_true, y_pred, _, subject = _clustered(2)
    whole = overall_interval(y_true, y_pred, clusters=subject, n_boot=200, seed=1)
    assert whole["value"] == pytest.approx(f1_score(y_true, y_pred))
    assert whole["low"] < whole["value"] < whole["high"]
    by_rows = overall_interval(y_true, y_pred, n_boot=200, seed=1)
    # a subject's segments are correlated: resampling subjects gives the wider interval
    assert whole["high"] - whole["low"] > by_rows["high"] - by_rows["low"]
    assert overall_interval(y_true, y_pred, "tpr")["value"] == pytest.approx(
        ((y_true == 1) & (y_pred == 1)).sum() / (y_true == 1).sum()
    )
    with pytest.raises(ValueError, match="metric: one of"):
        overall_interval(y_true, y_pred, "auc")


def test_cluster_bootstrap_is_wider_than_row_bootstrap_on_correlated_segments() -> None:
    y_true, y_pred, group, subject = _clustered(2)

    def width(clusters) -> float:
        ci = fairness_report(y_true, y_pred, {"g": group}, clusters=clusters, n_boot=300)["g"]["groups"][
            "young"
        ]
        return ci["f1"]["high"] - ci["f1"]["low"]

    # 25 near-identical segments per subject carry about one subject's worth of information
    assert width(subject) > 2 * width(None)


def test_undefined_groups_give_none_and_thin_samples_are_skipped_and_counted() -> None:
    y_true = [1, 0, 1, 0, 1, 0, 0, 0]
    y_pred = [1, 0, 0, 0, 1, 1, 0, 1]
    group = ["a"] * 6 + ["rare"] * 2  # "rare" has no positives and two rows: often missing from a resample
    part = fairness_report(y_true, y_pred, {"g": group}, n_boot=100)["g"]
    assert part["groups"]["rare"]["f1"] == {"value": None, "low": None, "high": None}
    assert part["groups"]["rare"]["tpr"]["value"] is None
    assert part["groups"]["rare"]["fpr"]["value"] == 0.5
    assert part["f1_gap"] == {"value": None, "low": None, "high": None}  # one group with an F1
    assert 0 < part["bootstrap"]["skipped"] < 100
    flat = flatten_fairness({"g": part}, "g")
    assert flat["f1_rare"] is None and flat["f1_gap"] is None and flat["fpr_rare"] == 0.5


def test_flatten_gives_the_gate_keys() -> None:
    y_true, y_pred, group, subject = _clustered(5)
    report = fairness_report(y_true, y_pred, {"age_group": group}, clusters=subject, n_boot=50)
    flat = flatten_fairness(report, "age_group")
    part = report["age_group"]
    assert flat["f1_young"] == part["groups"]["young"]["f1"]["value"]
    assert flat["f1_young_low"] == part["groups"]["young"]["f1"]["low"]
    assert flat["f1_gap_high"] == part["f1_gap"]["high"]
    for key in ("tpr_old", "fpr_old", "demographic_parity_difference", "equalized_odds_difference_low"):
        assert isinstance(flat[key], float)
    with pytest.raises(KeyError, match="gender"):
        flatten_fairness(report, "gender")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_pred": [1, 0]}, "y_pred: 2 values for 3 labels"),
        ({"y_true": [1, 2, 0]}, "y_true: labels must be 0 or 1"),
        ({"sensitive": {"age_group": ["a", None, "b"]}}, r"sensitive\['age_group'\]: 1 missing"),
        ({"sensitive": {"gender": ["f", "m"]}}, r"sensitive\['gender'\]: 2 values for 3"),
        ({"clusters": [1, 2]}, "clusters: need one non-missing id per row"),
        ({"confidence": 1.5}, r"confidence: must lie in \(0, 1\)"),
    ],
)
def test_bad_input_names_the_field(kwargs, message) -> None:
    args = {"y_true": [1, 0, 1], "y_pred": [1, 1, 0], "sensitive": {"age_group": ["a", "b", "a"]}} | kwargs
    sensitive = args.pop("sensitive")
    with pytest.raises(ValueError, match=message):
        fairness_report(args.pop("y_true"), args.pop("y_pred"), sensitive, **args)
