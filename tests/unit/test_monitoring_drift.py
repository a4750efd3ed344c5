"""Drift building blocks: the per-dimension statistic, its noise floor, embedding drift, age groups."""

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import wasserstein_stat_test
from scipy import stats

from models.hearing_loss.dataset import AGE_GROUPS
from monitoring.config import load_config
from monitoring.drift import (
    age_groups,
    dimension_drift,
    embedding_drift,
    feature_matrix,
    normed_wasserstein,
    sample,
)

pytestmark = pytest.mark.unit


def test_normed_wasserstein_equals_scipy_and_evidently_per_column() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 2, (300, 4))
    current = np.column_stack(
        [rng.normal(0, 2, 170), rng.normal(1, 2, 170), rng.exponential(2, 170), rng.normal(0, 5, 170)]
    )
    ours = normed_wasserstein(current, reference)
    for k in range(4):
        expected = stats.wasserstein_distance(reference[:, k], current[:, k]) / reference[:, k].std()
        assert ours[k] == pytest.approx(expected, rel=1e-9)
        evidently_score, _ = wasserstein_stat_test.func(
            pd.Series(reference[:, k]), pd.Series(current[:, k]), "num", 0.1
        )
        assert ours[k] == pytest.approx(evidently_score, rel=1e-9)


def test_dimension_drift_flags_shifted_dimensions_only() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, (400, 50)).astype(np.float32)
    same = rng.normal(0, 1, (300, 50)).astype(np.float32)
    shifted = same.copy()
    shifted[:, :10] += 0.5
    assert dimension_drift(same, reference, 0.1, seed=0)["drifted_share"] == 0.0
    drifted = dimension_drift(shifted, reference, 0.1, seed=0)
    assert drifted["drifted_share"] == pytest.approx(10 / 50)
    assert set(drifted["top"]) <= {f"dim_{k}" for k in range(10)}


def test_noise_floor_raises_the_threshold_on_small_samples() -> None:
    rng = np.random.default_rng(2)
    reference, current = rng.normal(0, 1, (40, 200)), rng.normal(0, 1, (40, 200))
    # at 40 rows a side, chance alone often reaches a 0.1 normed distance
    assert np.mean(normed_wasserstein(current, reference) >= 0.1) > 0.5
    result = dimension_drift(current, reference, 0.1, seed=0)
    assert result["noise_floor"] > 0.1 and result["threshold"] == result["noise_floor"]
    assert result["drifted_share"] < 0.05
    assert dimension_drift(current, reference, 0.1, seed=0) == result


def test_random_auc_level_is_the_chance_level_of_the_held_out_units() -> None:
    from monitoring.drift import random_auc_level

    # few units: random scores reach a high AUC; many: close to 0.5 (the normal approximation's
    # 95th percentile on 1,000 vs 1,000 held-out units is 0.5 + 1.645 * 0.0129 = 0.521)
    few, many = random_auc_level(30, 9, 0.95), random_auc_level(2000, 2000, 0.95)
    assert 0.68 < few < 0.85 and 0.51 < many < 0.535
    assert random_auc_level(2, 1, 0.95) == 1.0  # a held-out half of one side cannot be told apart


def test_a_small_sample_is_not_drift_at_an_auc_chance_reaches() -> None:
    rng = np.random.default_rng(5)
    small = embedding_drift(rng.normal(0, 1, (20, 8)), rng.normal(0, 1, (10, 8)), 0.55)
    assert small["chance_level"] > 0.7 and small["threshold"] == small["chance_level"]
    assert small["drifted"] == (small["score"] > small["chance_level"])


def test_embedding_drift_separates_shifted_embeddings() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(0, 1, (1200, 32))
    assert not embedding_drift(rng.normal(0, 1, (1200, 32)), reference, 0.55)["drifted"]
    shifted = embedding_drift(rng.normal(0.3, 1, (1200, 32)), reference, 0.55)
    assert shifted["drifted"] and shifted["score"] > 0.8


def test_config_age_groups_are_the_papers() -> None:
    groups = {name: tuple(bounds) for name, bounds in load_config("hearing_loss")["age_groups"].items()}
    assert groups == AGE_GROUPS
    ages = pd.Series([18, 39, 40, 56, 57, 90, 17, None])
    assert age_groups(ages, groups).tolist()[:6] == ["young", "young", "mid", "mid", "old", "old"]
    assert age_groups(ages, groups)[6:].isna().all()


def test_sample_is_seeded_and_bounded() -> None:
    frame = pd.DataFrame({"x": range(100)})
    assert sample(frame, 10, 0).equals(sample(frame, 10, 0)) and len(sample(frame, 10, 0)) == 10
    assert sorted(sample(frame, 500, 0)["x"]) == list(range(100))


def test_feature_matrix_errors_name_the_column() -> None:
    frame = pd.DataFrame({"current_mean": [np.zeros(3), np.zeros(4)]})
    with pytest.raises(ValueError, match="current_mean: vectors of different lengths"):
        feature_matrix(frame, "current_mean")
    with pytest.raises(ValueError, match="anchor_mean: not in the window"):
        feature_matrix(frame, "anchor_mean")
