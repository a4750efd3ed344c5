from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.hearing_loss.dataset import (
    AGE_GROUPS,
    FEATURE_DIM,
    FPS,
    MANIFEST_COLUMNS,
    FeatureStore,
    age_group,
    read_manifest,
    read_meta,
)
from models.hearing_loss.sampling import anchor_index
from models.hearing_loss.synth import (
    NULL_CONTROLS,
    SynthConfig,
    _group_counts,
    planted_directions,
    synthesize,
)

pytestmark = pytest.mark.unit


def _subject_means(cohort: Path) -> pd.DataFrame:
    manifest = read_manifest(cohort)
    store = FeatureStore(cohort)
    means = np.stack([x.mean(axis=0) for x in store.rows(manifest)])
    return manifest, means


def test_format_matches_the_spec(tiny_cohort: Path) -> None:
    manifest = read_manifest(tiny_cohort)
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert {c: str(t) for c, t in manifest.dtypes.items()} == MANIFEST_COLUMNS
    assert manifest["segment_id"].is_unique
    duration = manifest["end_s"] - manifest["start_s"]
    assert duration.between(25.0, 35.0).all()
    assert (manifest["n_frames"] == np.round(duration * FPS)).all()
    assert set(manifest["noise_level_dba"]) == {0, 55, 65, 75}
    assert (manifest["age_group"] == manifest["age"].map(age_group)).all()
    meta = read_meta(tiny_cohort)
    assert meta["feature_dim"] == FEATURE_DIM and meta["provenance"]["config"]["subjects"] == 10


def test_features_are_float32_memory_mapped_slices(tiny_cohort: Path) -> None:
    manifest = read_manifest(tiny_cohort)
    row = manifest.iloc[3]
    x = FeatureStore(tiny_cohort).segment(row.features_file, row.feature_offset, row.n_frames)
    assert isinstance(x, np.memmap)
    assert x.dtype == np.float32 and x.shape == (row.n_frames, FEATURE_DIM)
    assert np.isfinite(x).all()


def test_noise_level_changes_at_every_segment_and_partners_share_it(tiny_cohort: Path) -> None:
    manifest = read_manifest(tiny_cohort).sort_values(["subject_id", "segment_index"])
    for _, segments in manifest.groupby("subject_id"):
        assert (np.diff(segments["noise_level_dba"].to_numpy()) != 0).all()
        assert (segments["start_s"].to_numpy()[1:] == segments["end_s"].to_numpy()[:-1]).all()
    schedules = manifest.groupby(["session_id", "subject_id"])["noise_level_dba"].apply(tuple)
    assert (schedules.groupby(level="session_id").nunique() == 1).all()


def test_same_seed_same_bytes_other_seed_other_cohort(tmp_path: Path) -> None:
    config = SynthConfig(subjects=4, session_seconds=(200.0, 260.0), seed=7)
    synthesize(config, tmp_path / "a")
    synthesize(config, tmp_path / "b")
    synthesize(replace(config, seed=8), tmp_path / "c")
    for name in ("manifest.parquet", "features/S0000.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a/features/S0000.npy").read_bytes() != (
        tmp_path / "c/features/S0000.npy"
    ).read_bytes()


def test_new_subjects_of_a_world_share_its_directions_and_not_its_people(tmp_path: Path) -> None:
    trained_on = SynthConfig(subjects=6, session_seconds=(200.0, 260.0), seed=7)
    new = replace(trained_on, subjects=5, seed=9, world=(7, 6))
    same, own = planted_directions(trained_on), planted_directions(replace(new, world=None))
    for name, direction in planted_directions(new).items():
        np.testing.assert_array_equal(direction, same[name])  # the population: its face-to-feature map
        assert not np.allclose(direction, own[name])  # (a cohort of that seed alone has other ones)
    a, b = synthesize(trained_on, tmp_path / "a"), synthesize(new, tmp_path / "b")
    # the people and sessions are the new seed's own, exactly as without a world
    pd.testing.assert_frame_equal(b, synthesize(replace(new, world=None), tmp_path / "c"))
    assert not a["age"].head(5).equals(b["age"].head(5))


def test_refuses_to_write_into_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "stale.npy").write_bytes(b"")
    with pytest.raises(FileExistsError, match="not empty"):
        synthesize(SynthConfig(subjects=2, session_seconds=(100.0, 120.0)), tmp_path / "x")


def test_demographics_follow_table_1() -> None:
    assert _group_counts(178) == {"young": 60, "mid": 64, "old": 54}  # paper Table 1
    assert sum(_group_counts(37).values()) == 37


@pytest.fixture(scope="module")
def effects_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("effects") / "c"
    synthesize(SynthConfig(subjects=60, session_seconds=(300.0, 330.0), seed=3), out)
    return out


def test_positive_rates_per_age_group(effects_cohort: Path) -> None:
    subjects = read_manifest(effects_cohort).drop_duplicates("subject_id")
    rates = subjects.groupby("age_group")["hearing_loss"].mean()
    assert rates["young"] < rates["mid"] < rates["old"]
    assert set(subjects["age_group"]) == set(AGE_GROUPS)


def test_planted_identity_offset_dominates_segment_variation(effects_cohort: Path) -> None:
    manifest, means = _subject_means(effects_cohort)
    within = pd.DataFrame(means).groupby(manifest["subject_id"].to_numpy()).var().mean().mean()
    between = pd.DataFrame(means).groupby(manifest["subject_id"].to_numpy()).mean().var().mean()
    assert between > 2 * within


def test_planted_hearing_loss_effect_is_strongest_at_75_dba(effects_cohort: Path) -> None:
    manifest, means = _subject_means(effects_cohort)
    frame = pd.DataFrame(means)
    keys = [manifest["subject_id"].to_numpy(), manifest["noise_level_dba"].to_numpy()]
    per_level = frame.groupby(keys).mean()
    shift = {
        level: np.linalg.norm(
            per_level.xs(level, level=1).to_numpy() - per_level.xs(0, level=1).to_numpy(), axis=1
        )
        for level in (55, 75)
    }
    hl = manifest.drop_duplicates("subject_id").set_index("subject_id")["hearing_loss"].sort_index()
    gap = {level: s[hl.to_numpy() == 1].mean() - s[hl.to_numpy() == 0].mean() for level, s in shift.items()}
    assert gap[75] > 0 and gap[75] > gap[55]


def test_planted_age_signal_is_linearly_decodable(effects_cohort: Path) -> None:
    manifest, means = _subject_means(effects_cohort)
    subject = pd.DataFrame(means).groupby(manifest["subject_id"].to_numpy()).mean()
    age = manifest.drop_duplicates("subject_id").set_index("subject_id")["age"].sort_index()
    train, test = np.arange(len(age)) % 2 == 0, np.arange(len(age)) % 2 == 1
    x = subject.to_numpy() - subject.to_numpy()[train].mean(axis=0)
    w = np.linalg.solve(
        x[train].T @ x[train] + 500.0 * np.eye(x.shape[1]), x[train].T @ (age[train] - age.mean())
    )
    assert np.corrcoef(x[test] @ w, age[test])[0, 1] > 0.3


def _planted_auc(cohort: Path, config: SynthConfig, level: int) -> tuple[float, float]:
    """AUC of hearing loss along the planted direction at ``level``: one segment, and minus its anchor."""
    manifest, means = _subject_means(cohort)
    projection = means @ planted_directions(config)["hl"]
    relative = projection - projection[anchor_index(manifest).to_numpy()]
    at = manifest["noise_level_dba"].to_numpy() == level
    y = manifest["hearing_loss"].to_numpy()[at]
    return roc_auc_score(y, projection[at]), roc_auc_score(y, relative[at])


def test_planted_directions_are_orthonormal_in_feature_space() -> None:
    directions = np.stack(list(planted_directions(SynthConfig(subjects=6)).values()))
    assert directions.shape == (3, FEATURE_DIM)
    np.testing.assert_allclose(directions @ directions.T, np.eye(3), atol=1e-9)


def test_the_anchor_reveals_what_one_segment_hides(effects_cohort: Path) -> None:
    # hypothesis 1: a per-subject baseline larger than the effect, the effect a change against quiet
    config = SynthConfig(subjects=60, session_seconds=(300.0, 330.0), seed=3)
    single, relative = _planted_auc(effects_cohort, config, 75)
    assert relative > 0.85 and relative > single + 0.15
    assert abs(_planted_auc(effects_cohort, config, 0)[1] - 0.5) < 0.15  # quiet carries nothing


def test_null_control_without_the_reaction_has_no_signal(tmp_path: Path) -> None:
    config = replace(
        SynthConfig(subjects=60, session_seconds=(300.0, 330.0), seed=3), **NULL_CONTROLS["no_reaction"]
    )
    synthesize(config, tmp_path / "null")
    _, relative = _planted_auc(tmp_path / "null", config, 75)
    assert abs(relative - 0.5) < 0.15
    rates = (
        read_manifest(tmp_path / "null")
        .drop_duplicates("subject_id")
        .groupby("age_group")["hearing_loss"]
        .mean()
    )
    assert rates.max() - rates.min() < 0.1  # no age correlation either
