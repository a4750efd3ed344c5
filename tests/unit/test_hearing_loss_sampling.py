from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.hearing_loss.dataset import read_manifest
from models.hearing_loss.sampling import anchor_index, sample_triplets

pytestmark = pytest.mark.unit


def _manifest(rows: list[tuple[str, str, int, float]], index: list[int] | None = None) -> pd.DataFrame:
    """Hand-built manifest with the columns these functions read: (subject, session, dBA, start_s)."""
    frame = pd.DataFrame(rows, columns=["subject_id", "session_id", "noise_level_dba", "start_s"])
    frame = frame.astype({"subject_id": "string", "session_id": "string", "noise_level_dba": "int16"})
    return frame.set_axis(index) if index is not None else frame


# rows out of time order on purpose: the anchor must follow start_s, not row order
HAND = _manifest(
    [
        ("a", "s1", 75, 0.0),  # 0: before any quiet segment
        ("a", "s1", 0, 90.0),  # 1
        ("a", "s1", 0, 30.0),  # 2: first quiet by start_s
        ("a", "s1", 55, 60.0),  # 3
        ("b", "s1", 0, 0.0),  # 4: quiet first segment -> its own anchor
        ("b", "s1", 65, 30.0),  # 5
        ("b", "s1", 0, 60.0),  # 6
        ("a", "s2", 0, 10.0),  # 7: subject a's second session has its own anchor
        ("a", "s2", 75, 40.0),  # 8
    ]
)


def test_anchor_is_the_first_quiet_segment_of_the_session() -> None:
    anchors = anchor_index(HAND)
    assert anchors.tolist() == [2, 2, 2, 2, 4, 4, 4, 7, 7]
    assert anchors.index.equals(HAND.index)


def test_anchor_uses_index_labels() -> None:
    relabelled = HAND.set_axis([10 * i for i in range(len(HAND))])
    assert anchor_index(relabelled).tolist() == [20, 20, 20, 20, 40, 40, 40, 70, 70]


def test_anchor_names_the_subject_without_a_quiet_segment() -> None:
    loud = pd.concat([HAND, _manifest([("zed", "s9", 75, 0.0), ("zed", "s9", 55, 30.0)])], ignore_index=True)
    with pytest.raises(ValueError, match="subject zed"):
        anchor_index(loud)


def test_anchor_on_a_synthetic_cohort(tiny_cohort: Path) -> None:
    manifest = read_manifest(tiny_cohort)
    anchors = anchor_index(manifest)
    target = manifest.loc[anchors.to_numpy()]
    assert (target["noise_level_dba"].to_numpy() == 0).all()
    assert (target["session_id"].to_numpy() == manifest["session_id"].to_numpy()).all()
    assert (target["subject_id"].to_numpy() == manifest["subject_id"].to_numpy()).all()
    quiet = manifest[manifest["noise_level_dba"] == 0]
    first = quiet.groupby(["subject_id", "session_id"])["start_s"].min()
    keyed = pd.MultiIndex.from_frame(manifest[["subject_id", "session_id"]])
    np.testing.assert_array_equal(target["start_s"].to_numpy(), first.reindex(keyed).to_numpy())


def _check_triplets(manifest: pd.DataFrame, triplets: np.ndarray, levels: set[int]) -> None:
    rows = manifest.loc
    s_n, s_q1, s_q2 = (rows[triplets[:, k]] for k in range(3))
    subject = s_n["subject_id"].to_numpy()
    assert (s_q1["subject_id"].to_numpy() == subject).all()
    assert (s_q2["subject_id"].to_numpy() == subject).all()
    assert set(s_n["noise_level_dba"].tolist()) <= levels
    assert (s_q1["noise_level_dba"].to_numpy() == 0).all()
    assert (s_q2["noise_level_dba"].to_numpy() == 0).all()
    assert (triplets[:, 1] != triplets[:, 2]).all()


@pytest.mark.parametrize("levels", [(75,), (55, 65, 75), (65, 75)])
def test_triplet_invariants_on_a_synthetic_cohort(tiny_cohort: Path, levels: tuple[int, ...]) -> None:
    manifest = read_manifest(tiny_cohort)
    triplets = sample_triplets(manifest, np.random.default_rng(0), 2000, noisy_levels=levels)
    assert triplets.shape == (2000, 3) and triplets.dtype == np.int64
    _check_triplets(manifest, triplets, set(levels))
    # every requested level is actually drawn, and every subject appears
    assert set(manifest.loc[triplets[:, 0], "noise_level_dba"].tolist()) == set(levels)
    assert set(manifest.loc[triplets[:, 0], "subject_id"]) == set(manifest["subject_id"])


def test_triplets_are_deterministic_for_a_seed(tiny_cohort: Path) -> None:
    manifest = read_manifest(tiny_cohort)
    first = sample_triplets(manifest, np.random.default_rng(7), 300)
    again = sample_triplets(manifest, np.random.default_rng(7), 300)
    other = sample_triplets(manifest, np.random.default_rng(8), 300)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # shuffling the rows (labels kept) does not change the draw
    shuffled = manifest.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(sample_triplets(shuffled, np.random.default_rng(7), 300), first)


def test_triplets_skip_subjects_that_cannot_form_one() -> None:
    manifest = pd.concat(
        [
            HAND,
            _manifest([("c", "s3", 0, 0.0), ("c", "s3", 75, 30.0)]),  # one quiet only
            _manifest([("d", "s4", 0, 0.0), ("d", "s4", 0, 30.0), ("d", "s4", 55, 60.0)]),  # no 75
        ],
        ignore_index=True,
    )
    triplets = sample_triplets(manifest, np.random.default_rng(1), 500)
    _check_triplets(manifest, triplets, {75})
    # only subject a has a 75 dBA segment and two quiet ones (across its sessions)
    assert set(manifest.loc[triplets[:, 0], "subject_id"]) == {"a"}
    with pytest.raises(ValueError, match="no subject"):
        sample_triplets(manifest[manifest["subject_id"].isin(["c", "d"])], np.random.default_rng(1), 5)


def test_triplets_with_exactly_two_quiet_segments_use_both() -> None:
    manifest = _manifest([("b", "s1", 0, 0.0), ("b", "s1", 65, 30.0), ("b", "s1", 0, 60.0)], index=[5, 6, 9])
    triplets = sample_triplets(manifest, np.random.default_rng(0), 200, noisy_levels=(65,))
    assert (triplets[:, 0] == 6).all()
    assert {tuple(sorted(t)) for t in triplets[:, 1:].tolist()} == {(5, 9)}
    assert {tuple(t) for t in triplets[:, 1:].tolist()} == {(5, 9), (9, 5)}


def test_triplet_arguments_are_checked() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="exclude quiet"):
        sample_triplets(HAND, rng, 3, noisy_levels=(0, 75))
    with pytest.raises(ValueError, match="n must be"):
        sample_triplets(HAND, rng, -1)
    assert sample_triplets(HAND, rng, 0).shape == (0, 3)
