"""The embedding drift's chance level: the null distribution of the AUC of label-unrelated scores
(``auc_null_quantile``), against enumeration and against the simulated level it replaced (the
quantile of ``roc_auc_score`` of random scores on Evidently's held-out units)."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from monitoring.drift import EXACT_COST, _exact_u_distribution, auc_null_quantile, random_auc_level

pytestmark = pytest.mark.unit

Q = 0.95


def _aucs(labels: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """ROC AUC per draw from the scores' mid-ranks (ties: their mean rank, which counts them 1/2 as
    roc_auc_score does): (the positives' rank sum - n1 (n1 + 1) / 2) / (n1 n2). ``labels`` and
    ``ranks`` are [draws, units] or one of them [units], shared by every draw."""
    positives = int(np.sum(labels, axis=-1).flat[0])
    rank_sums = np.sum(labels * ranks, axis=-1)
    return (rank_sums - positives * (positives + 1) / 2) / (positives * (labels.shape[-1] - positives))


def _random_score_ranks(rng: np.random.Generator, draws: int, units: int) -> np.ndarray:
    """Ranks of ``draws`` rows of uniform random scores (continuous: no ties)."""
    return rng.random((draws, units)).argsort(axis=1).argsort(axis=1) + 1.0


def _shuffled_labels(rng: np.random.Generator, labels: np.ndarray, draws: int) -> np.ndarray:
    """``draws`` random orderings of ``labels``: label-unrelated scoring of fixed (tied) scores."""
    return rng.permuted(np.tile(labels, (draws, 1)), axis=1)


def _is_quantile(aucs: np.ndarray, level: float, z: float = 4.0) -> bool:
    """Whether ``level`` is the ``Q`` quantile of the distribution ``aucs`` are drawn from, within z
    standard errors of a share: at most Q of the draws below it, at least Q at or below it (a
    distribution's quantile, with or without atoms)."""
    tolerance = z * math.sqrt(Q * (1 - Q) / len(aucs))
    below, at_or_below = np.mean(aucs < level - 1e-9), np.mean(aucs <= level + 1e-9)
    return below <= Q + tolerance and at_or_below >= Q - tolerance


def test_rank_aucs_are_roc_auc_score() -> None:
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.r_[np.ones(7, int), np.zeros(11, int)])
    ranks = _random_score_ranks(rng, 3, 18)
    assert _aucs(labels, ranks) == pytest.approx([roc_auc_score(labels, r) for r in ranks], abs=1e-12)
    tied = rng.integers(0, 3, 18)
    shuffled = _shuffled_labels(rng, labels, 3)
    expected = [roc_auc_score(row, tied) for row in shuffled]
    assert _aucs(shuffled, stats.rankdata(tied)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("positives", "groups"), [(2, (1,) * 6), (3, (2, 1, 3, 1)), (4, (2, 1, 3, 1))])
def test_the_exact_distribution_is_every_labelling_counted(positives, groups) -> None:
    scores = np.repeat(np.arange(len(groups)), groups)
    units = len(scores)
    twice_u = []
    for chosen in itertools.combinations(range(units), positives):
        labels = np.isin(np.arange(units), chosen).astype(int)
        twice_u.append(round(roc_auc_score(labels, scores) * 2 * positives * (units - positives)))
    counted = np.bincount(twice_u, minlength=2 * positives * (units - positives) + 1) / len(twice_u)
    # the programme's state is the smaller side: the larger one's is the mirror image
    small = min(positives, units - positives)
    exact = _exact_u_distribution(small, groups)
    assert (exact if small == positives else exact[::-1]) == pytest.approx(counted, abs=1e-12)


@pytest.mark.parametrize(("current", "reference"), [(16, 16), (30, 9), (120, 90), (400, 300), (2000, 2000)])
def test_the_level_is_the_simulated_random_score_level_it_replaced(current, reference) -> None:
    # the replaced simulation: random scores on the held-out targets of Evidently's split
    target = np.r_[np.ones(reference, int), np.zeros(current, int)]
    _, held_out = train_test_split(target, test_size=0.5, random_state=42, shuffle=True)
    draws = 20_000 if len(held_out) < 200 else 4_000
    aucs = _aucs(held_out, _random_score_ranks(np.random.default_rng(1), draws, len(held_out)))
    assert _is_quantile(aucs, random_auc_level(current, reference, Q))
    # the check is tight enough to catch a wrong level: the sizes before the split
    assert not _is_quantile(aucs, auc_null_quantile(reference, current, Q))


@pytest.mark.parametrize(
    ("positives", "groups"),
    [(6, (6, 1, 6)), (9, (5, 1, 1, 8, 2, 3)), (300, (300, 200, 100)), (250, (40, 500, 60, 100))],
)
def test_the_level_with_ties_is_the_simulated_level_on_those_scores(positives, groups) -> None:
    units = sum(groups)
    labels = np.r_[np.ones(positives, int), np.zeros(units - positives, int)]
    scores = np.repeat(np.arange(len(groups)), groups)  # tie groups in ascending score order
    aucs = _aucs(_shuffled_labels(np.random.default_rng(2), labels, 20_000), stats.rankdata(scores))
    assert _is_quantile(aucs, auc_null_quantile(positives, units - positives, Q, groups))
    # a level that ignores the ties is not this distribution's
    assert not _is_quantile(aucs, auc_null_quantile(positives, units - positives, Q))


@pytest.mark.parametrize(("small", "large", "within"), [(5, 950, 0.001), (2, 1900, 0.007), (1, 2800, 0.026)])
def test_the_normal_approximation_beyond_the_exact_budget(small, large, within) -> None:
    assert (small + 1) ** 2 * (small + large) ** 2 > EXACT_COST  # so the normal approximation
    normal = auc_null_quantile(small, large, Q)
    exact = np.searchsorted(np.cumsum(_exact_u_distribution(small, (1,) * (small + large))), Q) / (
        2 * small * large
    )
    assert abs(normal - exact) <= within


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        auc_null_quantile(5, 5, 1.0)
    with pytest.raises(ValueError, match="sum to 10 units"):
        auc_null_quantile(5, 5, Q, (3, 3))
    assert auc_null_quantile(0, 5, Q) == 1.0  # one side only: nothing to tell apart
