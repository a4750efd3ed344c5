"""The AU datasets: published layouts, the fixed 3-fold split, attention maps, the synthetic generator's
model-free oracle, and the Great Expectations gate on broken data."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.action_units import oracle, spec, split, synth
from models.action_units.attention import attention_maps
from models.action_units.aus import BP4D_AUS, CENTRES, DISFA_AUS, au_columns
from models.action_units.data import load_split, read_images
from models.action_units.dataset import (
    bp4d_label_path,
    disfa_label_path,
    frame_landmarks,
    frame_table,
    landmarks_path,
    read_bp4d_labels,
    read_disfa_labels,
)
from models.action_units.relation import relation_matrix

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def bp4d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bp4d") / "data"
    synth.synthesize(spec.tiny_dataset(), root)
    split.split(root)
    return root


@pytest.fixture(scope="module")
def disfa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("disfa") / "data"
    synth.synthesize(replace(spec.tiny_dataset(), layout="disfa", subjects_per_part=1, frames=24), root)
    return root


def test_bp4d_labels_read_the_12_aus_and_mask_uncoded_frames(tmp_path: Path) -> None:
    path = tmp_path / "F001_T1.csv"
    columns = {"0": [10, 11, 12], **{str(au): [0, 1, 9] for au in BP4D_AUS}, "5": [9, 9, 9]}
    pd.DataFrame(columns).to_csv(path, index=False)
    labels = read_bp4d_labels(path)
    assert list(labels.columns) == ["frame", *au_columns(BP4D_AUS)]
    assert labels["frame"].tolist() == [10, 11, 12]
    assert labels["au12"].tolist() == [0, 1, -1]  # 9: not coded, masked
    pd.DataFrame({"0": [1], "1": [0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"F001_T1\.csv: no column\(s\) 2, 4"):
        read_bp4d_labels(path)


def test_disfa_is_positive_at_intensity_2_and_its_images_count_from_0(disfa: Path) -> None:
    subject = "SN002"
    intensity = pd.read_csv(disfa_label_path(disfa, subject, 12), header=None, names=["frame", "v"])
    labels = read_disfa_labels(disfa, subject)
    assert list(labels.columns) == ["frame", *au_columns(DISFA_AUS)]  # 8 of the 12 coded AUs
    assert labels["frame"].iloc[0] == 1
    np.testing.assert_array_equal(labels["au12"].to_numpy(), (intensity["v"] >= 2).astype(int).to_numpy())
    table = frame_table(disfa)
    first = table[table["subject_id"] == subject].iloc[0]
    assert first["frame"] == 1 and first["image"] == f"images/{subject}/0.png"  # label frame 1 = image 0
    assert (disfa / first["image"]).is_file()
    assert read_images(disfa, [first["image"]], 64).shape == (1, 64, 64, 3)


def test_the_split_is_the_published_parts_and_refuses_anything_else(bp4d: Path, tmp_path: Path) -> None:
    frames = load_split(bp4d)
    folds = frames.groupby("subject_id")["fold"].first().to_dict()
    assert folds == {"F001": 0, "M007": 0, "M011": 1, "F003": 1, "F007": 2, "F015": 2}
    assert frames.groupby("subject_id")["fold"].nunique().max() == 1
    before = (bp4d / "folds.parquet").read_bytes()
    split.split(bp4d, 5, 7)  # the pipeline's default fold count and any seed: the same fixed parts
    assert (bp4d / "folds.parquet").read_bytes() == before
    with pytest.raises(ValueError, match="subjects outside the published bp4d folds: X999"):
        split.assign_folds(["F001", "X999"], "bp4d")


def test_attention_maps_sit_on_the_au_regions_on_the_stage3_grid() -> None:
    from models.action_units.render import TEMPLATE

    maps = attention_maps(TEMPLATE * 224, BP4D_AUS, 224)
    assert maps.shape == (12, 14, 14) and maps.dtype == np.float32
    assert np.allclose(maps.max(axis=(1, 2)), 1.0)
    # AU12's region: the mouth corners (48, 54); AU1's: above the inner brows
    row, _ = np.unravel_index(maps[BP4D_AUS.index(12)].argmax(), (14, 14))
    assert 10 <= row <= 12 and maps[BP4D_AUS.index(12), :6].max() < 0.05
    assert maps[BP4D_AUS.index(1), 8:].max() < 0.05
    # a mirrored face gives mirrored maps (each AU's two centres are a left-right pair)
    mirrored = TEMPLATE.copy() * 224
    mirrored[:, 0] = 224 - mirrored[:, 0]
    flipped = attention_maps(mirrored, BP4D_AUS, 224)
    np.testing.assert_allclose(flipped, maps[:, :, ::-1], atol=0.1)
    assert attention_maps(TEMPLATE * 64, BP4D_AUS, 64).shape == (12, 4, 4)


def test_relation_matrix_counts_co_occurrence_over_coded_frames() -> None:
    labels = np.array([[1, 1, 0], [1, 0, -1], [1, 1, 1], [0, 1, 1]])
    m = relation_matrix(labels)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert m[0, 1] == pytest.approx(2 / 3)  # AU0 present in 3 frames, AU1 with it in 2
    assert m[0, 2] == pytest.approx(1 / 2)  # AU2 coded in 2 of AU0's frames, present in 1
    assert m[1, 0] == pytest.approx(2 / 3)


def test_the_synthetic_aus_are_local_and_co_occur(bp4d: Path) -> None:
    """Model-free: each AU's own texture filter at its own centres separates its labels (ROC AUC);
    the relation matrix is far from independence."""
    frames = frame_table(bp4d)
    images = read_images(bp4d, list(frames["image"]), 64)
    points = frame_landmarks(bp4d, frames)
    labels = frames[au_columns(BP4D_AUS)].to_numpy()
    own, elsewhere = [], []
    for k, au in enumerate(BP4D_AUS):
        coded = labels[:, k] >= 0
        score = np.array([oracle.gabor_response(i, p, au) for i, p in zip(images, points, strict=True)])
        own.append(oracle.auc(score[coded], labels[coded, k]))
        far = next(b for b in BP4D_AUS if not set(CENTRES[b][0]) & set(CENTRES[au][0]))
        score = np.array([oracle.gabor_response(i, p, au, far) for i, p in zip(images, points, strict=True)])
        elsewhere.append(oracle.auc(score[coded], labels[coded, k]))
    assert min(own) > 0.8, dict(zip(BP4D_AUS, np.round(own, 2), strict=True))
    assert np.mean(elsewhere) < np.mean(own) - 0.2
    assert oracle.relation_gap(labels) > 0.3
    assert (labels == -1).any()  # some frames are not coded


def test_synthesis_is_deterministic_and_labelled_synthetic(bp4d: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    synth.synthesize(spec.tiny_dataset(), again)
    path = bp4d_label_path(bp4d, "F001", "T1")
    assert path.read_bytes() == bp4d_label_path(again, "F001", "T1").read_bytes()
    np.testing.assert_array_equal(
        np.load(landmarks_path(bp4d, "F001_T1"))["points"],
        np.load(landmarks_path(again, "F001_T1"))["points"],
    )
    summary = spec.SPEC.data.summarize(bp4d)
    assert summary["synthetic"] and summary["folds"] == {0: 80, 1: 80, 2: 80}
    assert spec.SPEC.data.format_summary(summary).startswith("synthetic bp4d dataset: 6 subjects")
    with pytest.raises(FileExistsError):
        synth.synthesize(spec.tiny_dataset(), bp4d)


def test_validation_names_bad_files_bad_codes_missing_landmarks_and_leaked_subjects(
    bp4d: Path, tmp_path: Path
) -> None:
    from components.validate import validate_cohort

    broken = tmp_path / "broken"
    shutil.copytree(bp4d, broken)
    frames = frame_table(broken)
    image = broken / frames["image"].iloc[0]
    image.write_bytes(image.read_bytes()[:200])  # truncated JPEG
    (broken / frames["image"].iloc[1]).unlink()
    labels = bp4d_label_path(broken, "M007", "T2")
    table = pd.read_csv(labels)
    table.loc[0, "12"] = 5  # not a BP4D code
    table.to_csv(labels, index=False)
    stored = np.load(landmarks_path(broken, "F003_T1"))
    np.savez(landmarks_path(broken, "F003_T1"), frames=stored["frames"][:-1], points=stored["points"][:-1])
    folds = pd.read_parquet(broken / "folds.parquet")
    leaked = pd.concat([folds, pd.DataFrame({"subject_id": ["F001"], "fold": [1]})]).astype(folds.dtypes)
    leaked.to_parquet(broken / "folds.parquet", index=False)
    report = validate_cohort(broken, docs_dir=None, family="action_units")
    assert not report.success
    text = "\n".join(failure.describe() for failure in report.failures)
    assert "images decode completely" in text and f"F001_T1 {frames['frame'].iloc[0]}" in text
    assert "every labelled frame has its image" in text
    assert "codes are 0 / 1 / 9" in text and "M007_T2" in text
    assert "every labelled frame has 68 landmarks" in text and "F003_T1" in text
    assert "no subject is in two folds" in text and "F001" in text
    assert "a subject's fold is its published part" in text
