import os
from pathlib import Path

import pandas as pd
import pytest

from components.split import split_cohort
from models.common.folds import read_folds
from models.hearing_loss.dataset import read_manifest
from models.hearing_loss.split import assign_folds

pytestmark = pytest.mark.unit


def test_sessions_and_subjects_never_straddle_folds(tiny_cohort: Path) -> None:
    manifest = read_manifest(tiny_cohort)
    folds = assign_folds(manifest, n_folds=5, seed=0)
    assert sorted(folds["subject_id"]) == sorted(manifest["subject_id"].unique())
    assert (folds.groupby("session_id")["fold"].nunique() == 1).all()
    assert set(folds["fold"]) == set(range(5))


def test_same_seed_same_split_other_seed_other_split() -> None:
    manifest = pd.DataFrame(
        {
            "subject_id": [f"S{i:02d}" for i in range(40)],
            "session_id": [f"C{i // 2:02d}" for i in range(40)],
            "hearing_loss": [i % 3 == 0 for i in range(40)],
        }
    )
    a, b, c = (assign_folds(manifest, 5, seed) for seed in (1, 1, 2))
    assert a.equals(b) and not a.equals(c)
    sizes = a.groupby("fold").size()
    assert sizes.max() - sizes.min() <= 2  # whole sessions of two subjects, dealt in snake order
    positives = a.merge(manifest, on="subject_id").groupby("fold")["hearing_loss"].sum()
    assert positives.max() - positives.min() <= 2


def test_the_rarest_groups_positives_are_spread_over_folds_first() -> None:
    # 5 young positives in 5 sessions among 40: a positives-only deal would leave folds without one
    rows = []
    for i in range(40):
        young = i < 20
        positive = (i % 4 == 0) if young else (i % 2 == 1)
        rows.append(
            {
                "subject_id": f"S{i:02d}",
                "session_id": f"C{i // 2:02d}",
                "hearing_loss": int(positive),
                "age_group": "young" if young else "old",
            }
        )
    manifest = pd.DataFrame(rows)
    for seed in range(5):
        folds = assign_folds(manifest, 5, seed).merge(manifest, on="subject_id")
        young_positives = folds[(folds["age_group"] == "young") & (folds["hearing_loss"] == 1)]
        assert sorted(young_positives["fold"]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            pd.DataFrame({"subject_id": ["a", "a"], "session_id": ["x", "y"], "hearing_loss": [0, 0]}),
            "more than one",
        ),
        (
            pd.DataFrame({"subject_id": ["a", "b"], "session_id": ["x", "y"], "hearing_loss": [0, 1]}),
            "cannot fill",
        ),
    ],
)
def test_unsplittable_manifests_are_refused(manifest: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_folds(manifest, 5, 0)


def test_split_to_a_new_directory_links_and_leaves_the_input_alone(tiny_cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    split_cohort(tiny_cohort, 5, 0, out=out)
    assert not (tiny_cohort / "folds.parquet").exists()
    assert len(read_folds(out)) == read_manifest(tiny_cohort)["subject_id"].nunique()
    assert os.path.samefile(out / "features" / "S0000.npy", tiny_cohort / "features" / "S0000.npy")
    with pytest.raises(FileExistsError):
        split_cohort(tiny_cohort, 5, 0, out=out)
