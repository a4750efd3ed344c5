"""Great Expectations gate on the hearing-loss cohort: a clean cohort passes, each corruption is named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.split import split_cohort
from components.validate import ValidationReport, validate_cohort
from models.common.expectations import DatasetError
from models.common.folds import read_folds
from models.hearing_loss import expectations
from models.hearing_loss.dataset import (
    FOLDS_FILE,
    MANIFEST_FILE,
    META_FILE,
    read_manifest,
)
from models.hearing_loss.synth import SynthConfig, synthesize

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def folded_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 short-session subjects with folds: enough sessions for 5 folds and >= 10 young subjects."""
    out = tmp_path_factory.mktemp("split") / "cohort"
    synthesize(SynthConfig(subjects=30, session_seconds=(90.0, 100.0), seed=1), out)
    split_cohort(out, expectations.N_FOLDS, seed=1)
    return out


def _copy(cohort: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(cohort, tmp_path / "cohort"))


def _validate(cohort: Path, tmp_path: Path | None) -> ValidationReport:
    """Data Docs only where the test looks at them: building them is a third of a run."""
    return validate_cohort(cohort, docs_dir=tmp_path / "docs" if tmp_path else None)


# --- corruptions: each edits a copy of the split cohort in place -------------------------------------


def _manifest(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def apply(cohort: Path) -> None:
        edit(read_manifest(cohort)).to_parquet(cohort / MANIFEST_FILE, index=False)

    return apply


def _folds(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def apply(cohort: Path) -> None:
        edit(read_folds(cohort)).to_parquet(cohort / FOLDS_FILE, index=False)

    return apply


def _features(edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    """Rewrite the first subject's feature file."""

    def apply(cohort: Path) -> None:
        path = cohort / read_manifest(cohort)["features_file"].iloc[0]
        np.save(path, edit(np.load(path)))

    return apply


def _first_subject(manifest: pd.DataFrame) -> pd.Series:
    return manifest["subject_id"] == manifest["subject_id"].iloc[0]


def _set(column: str, value, rows: Callable[[pd.DataFrame], pd.Series] = _first_subject):
    def edit(manifest: pd.DataFrame) -> pd.DataFrame:
        manifest.loc[rows(manifest), column] = value
        return manifest

    return _manifest(edit)


def _first_row(manifest: pd.DataFrame) -> pd.Series:
    return manifest.index == 0


def _second_row_of_first_subject(manifest: pd.DataFrame) -> pd.Series:
    return manifest.index == manifest.index[_first_subject(manifest)][1]


def _duplicate_segment_id(manifest: pd.DataFrame) -> pd.DataFrame:
    manifest.loc[1, "segment_id"] = manifest.loc[0, "segment_id"]
    return manifest


def _ten_second_segment(manifest: pd.DataFrame) -> pd.DataFrame:
    manifest.loc[0, "end_s"] = manifest.loc[0, "start_s"] + 10.0
    return manifest


def _wrong_age_group(manifest: pd.DataFrame) -> pd.DataFrame:
    rows = _first_subject(manifest)
    manifest.loc[rows, "age_group"] = "old" if manifest.loc[rows, "age_group"].iloc[0] != "old" else "young"
    return manifest


def _young_all_negative(manifest: pd.DataFrame) -> pd.DataFrame:
    manifest.loc[manifest["age_group"] == "young", "hearing_loss"] = 0
    return manifest


def _nan_feature(features: np.ndarray) -> np.ndarray:
    features[3, 7] = np.nan
    return features


def _two_folds(folds: pd.DataFrame) -> pd.DataFrame:
    extra = folds.iloc[[0]].assign(fold=(folds["fold"].iloc[0] + 1) % expectations.N_FOLDS)
    return pd.concat([folds, extra], ignore_index=True)


def _wrong_feature_dim(cohort: Path) -> None:
    meta = json.loads((cohort / META_FILE).read_text())
    (cohort / META_FILE).write_text(json.dumps({**meta, "feature_dim": 512}))


def _delete_feature_file(cohort: Path) -> None:
    (cohort / read_manifest(cohort)["features_file"].iloc[0]).unlink()


# id -> (corruption, (table, expectation, column) of a failure that must be reported)
CORRUPTIONS: dict[str, tuple[Callable[[Path], None], tuple[str, str, str]]] = {
    "age 12": (_set("age", 12), ("manifest", "ExpectColumnValuesToBeBetween", "age")),
    "age stored as float": (
        _manifest(lambda m: m.assign(age=m["age"].astype("float64"))),
        ("manifest", "ExpectColumnValuesToBeOfType", "age"),
    ),
    "noise 60 dBA": (
        _set("noise_level_dba", 60, _first_row),
        ("manifest", "ExpectColumnValuesToBeInSet", "noise_level_dba"),
    ),
    "duplicate segment_id": (
        _manifest(_duplicate_segment_id),
        ("manifest", "ExpectColumnValuesToBeUnique", "segment_id"),
    ),
    "null gender": (
        _set("gender", None, _first_row),
        ("manifest", "ExpectColumnValuesToNotBeNull", "gender"),
    ),
    "missing column": (
        _manifest(lambda m: m.drop(columns="gender")),
        ("manifest", "ExpectColumnToExist", "gender"),
    ),
    "manifest deleted": (
        lambda c: (c / MANIFEST_FILE).unlink(),
        ("meta", "ExpectColumnValuesToBeInSet", "manifest_exists"),
    ),
    "hearing_loss 2": (_set("hearing_loss", 2), ("manifest", "ExpectColumnValuesToBeInSet", "hearing_loss")),
    "300 frames": (
        _set("n_frames", 300, _first_row),
        ("manifest", "ExpectColumnValuesToBeBetween", "n_frames"),
    ),
    "subject with two ages": (
        _manifest(lambda m: m.assign(age=m["age"].where(~_second_row_of_first_subject(m), m["age"] + 1))),
        ("subjects", "ExpectColumnValuesToBeInSet", "n_ages"),
    ),
    "segment 10 s long": (
        _manifest(_ten_second_segment),
        ("segments", "ExpectColumnValuesToBeBetween", "duration_s"),
    ),
    "age_group inconsistent with age": (
        _manifest(_wrong_age_group),
        ("segments", "ExpectColumnPairValuesToBeEqual", "age_group, age_group_of_age"),
    ),
    "feature file deleted": (
        _delete_feature_file,
        ("features", "ExpectColumnValuesToBeInSet", "file_exists"),
    ),
    "feature file not an .npy": (
        lambda c: (c / read_manifest(c)["features_file"].iloc[0]).write_bytes(b"not numpy"),
        ("features", "ExpectColumnValuesToBeInSet", "file_readable"),
    ),
    "float64 features": (
        _features(lambda x: x.astype(np.float64)),
        ("features", "ExpectColumnValuesToBeInSet", "dtype"),
    ),
    "383 columns": (
        _features(lambda x: x[:, :383]),
        ("features", "ExpectColumnValuesToBeInSet", "n_columns"),
    ),
    "NaN in features": (_features(_nan_feature), ("features", "ExpectColumnValuesToBeInSet", "n_nonfinite")),
    "truncated feature file": (
        _features(lambda x: x[:-10]),
        ("features", "ExpectColumnPairValuesAToBeGreaterThanB", "rows_available, rows_needed"),
    ),
    "all labels negative": (
        _manifest(lambda m: m.assign(hearing_loss=m["hearing_loss"] * 0)),
        ("subjects", "ExpectColumnMeanToBeBetween", "hearing_loss"),
    ),
    "young group all negative": (
        _manifest(_young_all_negative),
        ("groups", "ExpectColumnValuesToBeBetween", "positive_rate"),
    ),
    "subject in two folds": (_folds(_two_folds), ("folds", "ExpectColumnValuesToBeBetween", "n_folds")),
    "subject missing from folds": (
        _folds(lambda f: f.iloc[1:]),
        ("folds", "ExpectColumnValuesToBeInSet", "in_folds"),
    ),
    "fold id 7": (
        _folds(lambda f: f.assign(fold=f["fold"].where(f.index != 0, 7))),
        ("folds_file", "ExpectColumnValuesToBeBetween", "fold"),
    ),
    "cohort.json deleted": (
        lambda c: (c / META_FILE).unlink(),
        ("meta", "ExpectColumnValuesToBeInSet", "meta_exists"),
    ),
    "cohort.json feature_dim 512": (
        _wrong_feature_dim,
        ("meta", "ExpectColumnValuesToBeInSet", "feature_dim"),
    ),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruption_is_caught_by_its_expectation(name: str, folded_cohort: Path, tmp_path: Path) -> None:
    corrupt, (table, expectation, column) = CORRUPTIONS[name]
    cohort = _copy(folded_cohort, tmp_path)
    corrupt(cohort)
    report = _validate(cohort, None)
    assert not report.success
    caught = [(f.table, f.expectation, f.column) for f in report.failures]
    assert (table, expectation, column) in caught, "\n".join(f.describe() for f in report.failures)


def test_clean_tiny_cohort_passes_and_writes_docs_only_to_docs_dir(
    tiny_cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    report = _validate(tiny_cohort, tmp_path)
    assert report.success, "\n".join(f.describe() for f in report.failures)
    assert report.failures == []
    assert report.docs_index == (tmp_path / "docs" / "index.html").resolve()
    assert report.docs_index.is_file()
    assert list(cwd.iterdir()) == []  # no gx/ folder or other GE leftovers
    # folds.parquet is not there before the split step, so its expectations are skipped
    assert report.checked == sum(e["table"] not in ("folds", "folds_file") for e in expectations.EXPECTATIONS)


def test_clean_split_cohort_passes_every_expectation(folded_cohort: Path, tmp_path: Path) -> None:
    report = _validate(folded_cohort, tmp_path)
    assert report.success, "\n".join(f.describe() for f in report.failures)
    assert report.checked == len(expectations.EXPECTATIONS)
    assert report.to_dict() == {
        "success": True,
        "checked": len(expectations.EXPECTATIONS),
        "failures": [],
        "docs_index": str(report.docs_index),
    }


def test_failure_names_the_segment_and_value(folded_cohort: Path, tmp_path: Path) -> None:
    cohort = _copy(folded_cohort, tmp_path)
    manifest = read_manifest(cohort)
    segment = manifest.loc[0, "segment_id"]
    _set("age", 12, _first_row)(cohort)
    report = _validate(cohort, tmp_path)
    (failure,) = [f for f in report.failures if (f.table, f.column) == ("manifest", "age")]
    assert failure.found == f"1 of {len(manifest)} rows: {segment} (age=12)"
    assert failure.expected == "values ≥ 18 and ≤ 90"
    assert segment in failure.describe() and "ages lie in 18-90" in failure.describe()
    as_dict = report.to_dict()
    assert as_dict["success"] is False
    assert any(segment in f["description"] for f in as_dict["failures"])


def test_corrupt_parquet_is_an_error_naming_the_file(tiny_cohort: Path, tmp_path: Path) -> None:
    cohort = _copy(tiny_cohort, tmp_path)
    (cohort / MANIFEST_FILE).write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match=MANIFEST_FILE):
        expectations.tables(cohort)


def test_unknown_family_lists_the_known_ones(tiny_cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hearing_loss"):
        validate_cohort(tiny_cohort, docs_dir=tmp_path, family="pain")


def test_feature_table_has_one_row_per_segment(tiny_cohort: Path) -> None:
    tables = expectations.tables(tiny_cohort)
    features, manifest = tables["features"], tables["manifest"]
    assert list(features["segment_id"]) == list(manifest["segment_id"])
    assert (features["rows_needed"] <= features["rows_available"]).all()
    assert set(features["dtype"]) == {"float32"} and features["n_nonfinite"].sum() == 0
