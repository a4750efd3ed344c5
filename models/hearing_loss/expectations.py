"""What a valid hearing-loss cohort looks like, as data: named tables plus declarative expectations.

``tables(cohort)`` turns a cohort directory (format: ``cohort.py``) into small pandas tables, one
per level the checks talk about (file metadata, segment, subject, age group, fold), so that every
rule below is a plain column expectation. ``EXPECTATIONS`` names Great Expectations classes and
their kwargs but this module never imports great_expectations: ``models/`` stays numpy/pandas, and
the runner (``components/validate.py``) is the only place that knows GE.

A broken cohort never makes ``tables()`` crash: a missing column or file leaves the derived column
out (or marks it absent), so the matching expectation fails with a readable message. Only an
unreadable file (e.g. corrupt parquet) raises, as ``CohortError`` naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.expectations import (
    column_schema,
    expect,
    fold_membership,
    folds_file_rules,
    read_json_object,
    read_parquet,
)
from models.hearing_loss.dataset import (
    AGE_GROUPS,
    AGE_RANGE,
    FEATURE_DIM,
    FOLDS_COLUMNS,
    FOLDS_FILE,
    FORMAT_VERSION,
    FPS,
    GENDERS,
    MANIFEST_COLUMNS,
    MANIFEST_FILE,
    META_FILE,
    NOISE_LEVELS_DBA,
    SEGMENT_SECONDS,
    age_group,
)

# Boundaries are cut from 5 fps video and rounded, so allow a little slack around 25-35 s.
DURATION_TOLERANCE_S = 0.5
MIN_FRAMES = math.floor((SEGMENT_SECONDS[0] - DURATION_TOLERANCE_S) * FPS)
MAX_FRAMES = math.ceil((SEGMENT_SECONDS[1] + DURATION_TOLERANCE_S) * FPS)
# n_frames may differ from duration x fps by the frames the tolerance allows (dropped frames)
FRAME_TOLERANCE = DURATION_TOLERANCE_S * FPS
N_FOLDS = 5  # paper §4.2: five subject-independent folds (components/split.py's default)
# Subject-level positive rate: the paper's cohort is 85/178 = 0.48; outside 0.2-0.8 the F1 the
# paper reports is not comparable and a fold can end up with almost no positives.
POSITIVE_RATE = (0.2, 0.8)
# An age group needs both classes for per-group metrics (paper Table 1 breaks F1 down by age).
# With fewer subjects than this a one-class group is chance (young: 0.18 positive rate, 0.82^10
# = 14 %), not a data problem, so smaller groups (e.g. tiny test cohorts) are not judged.
MIN_GROUP_SUBJECTS = 10

# The column that names a row in each table, so failures list segments / subjects / files.
ID_COLUMNS: dict[str, list[str]] = {
    "meta": [],
    "manifest": ["segment_id"],
    "segments": ["segment_id"],
    "features": ["features_file", "segment_id"],
    "subjects": ["subject_id"],
    "groups": ["age_group"],
    "folds": ["subject_id"],
    "folds_file": ["subject_id"],
}

_CHUNK_ROWS = 8192  # rows of a feature file scanned at a time: bounds memory at ~12 MB


def _meta(cohort: Path) -> pd.DataFrame:
    """One row: are the cohort's top-level files there, and what does cohort.json declare."""
    path = cohort / META_FILE
    row: dict = {
        "meta_exists": path.exists(),
        "manifest_exists": (cohort / MANIFEST_FILE).exists(),
        "format_version": None,
        "feature_dim": None,
        "fps": None,
    }
    if path.exists():
        meta = read_json_object(path)
        row.update({k: meta.get(k) for k in ("format_version", "feature_dim", "fps")})
    return pd.DataFrame([row])


def _as_age_group(age: object) -> str | None:
    try:
        return age_group(int(age))
    except (TypeError, ValueError):  # null or out of range: the age checks report those
        return None


def _segments(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per-segment values derived from the manifest (duration, age group implied by age)."""
    out = manifest[[c for c in ("segment_id", "subject_id", "age_group") if c in manifest]].copy()
    if {"start_s", "end_s"} <= set(manifest):
        out["duration_s"] = manifest["end_s"].astype("float64") - manifest["start_s"].astype("float64")
        if "n_frames" in manifest:
            out["frames_minus_expected"] = manifest["n_frames"].astype("float64") - out["duration_s"] * FPS
    if "age" in manifest:
        out["age_group_of_age"] = manifest["age"].map(_as_age_group).astype("string")
    return out


def _file_stats(path: Path, segments: pd.DataFrame) -> dict[str, list]:
    """Stats of one feature file for each of its segments, streaming the file in chunks."""
    n = len(segments)
    stats: dict[str, list] = {
        k: [None] * n
        for k in ("file_readable", "dtype", "ndim", "n_columns", "rows_available", "n_nonfinite")
    }
    stats["file_exists"] = [path.is_file()] * n
    if not path.is_file():
        return stats
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception:  # truncated header, pickled object array, not an .npy at all
        stats["file_readable"] = [False] * n
        return stats
    stats["file_readable"] = [True] * n
    stats["dtype"] = [str(array.dtype)] * n
    stats["ndim"] = [array.ndim] * n
    stats["n_columns"] = [array.shape[1] if array.ndim == 2 else 0] * n
    stats["rows_available"] = [array.shape[0] if array.ndim >= 1 else 0] * n
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        return stats
    # non-finite values per row, chunk by chunk, then per segment through a cumulative sum
    bad = np.zeros(array.shape[0] + 1, dtype=np.int64)
    for start in range(0, array.shape[0], _CHUNK_ROWS):
        chunk = np.asarray(array[start : start + _CHUNK_ROWS])
        bad[start + 1 : start + 1 + len(chunk)] = (~np.isfinite(chunk)).sum(axis=1)
    bad = np.cumsum(bad)
    if not {"feature_offset", "n_frames"} <= set(segments):
        return stats  # the manifest's column checks report the missing references
    offsets = pd.to_numeric(segments["feature_offset"], errors="coerce")
    frames = pd.to_numeric(segments["n_frames"], errors="coerce")
    for i, (offset, count) in enumerate(zip(offsets, frames, strict=True)):
        if pd.notna(offset) and pd.notna(count):
            low = int(np.clip(offset, 0, array.shape[0]))
            high = int(np.clip(offset + count, low, array.shape[0]))
            stats["n_nonfinite"][i] = int(bad[high] - bad[low])
    del array  # drop the memory map before the next file
    return stats


def _features(cohort: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per segment: does its feature slice exist, with the right dtype, width and values."""
    cols = [
        c
        for c in ("segment_id", "subject_id", "features_file", "feature_offset", "n_frames")
        if c in manifest
    ]
    refs = manifest[cols].copy()
    if "features_file" not in refs:
        refs["features_file"] = pd.Series(pd.NA, index=refs.index, dtype="string")
    if {"feature_offset", "n_frames"} <= set(refs):
        refs["rows_needed"] = refs["feature_offset"].astype("Int64") + refs["n_frames"].astype("Int64")
    parts = []
    for file, group in refs.groupby("features_file", dropna=False, sort=False):
        path = cohort / str(file) if pd.notna(file) else cohort / "<no features_file>"
        parts.append(group.assign(**_file_stats(path, group)))
    out = pd.concat(parts) if parts else refs.assign(file_exists=pd.Series(dtype=bool))
    out = out.drop(columns=[c for c in ("feature_offset", "n_frames") if c in out])
    for column in ("ndim", "n_columns", "rows_available", "n_nonfinite", "rows_needed"):
        if column in out:
            out[column] = out[column].astype("Int64")
    return out.sort_index().reset_index(drop=True)


def _subjects(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: how many distinct values of each per-subject field it has."""
    if "subject_id" not in manifest:
        return pd.DataFrame({"subject_id": pd.Series(dtype="string")})
    by = manifest.groupby("subject_id", dropna=False, sort=True)
    out = pd.DataFrame({"n_segments": by.size()})
    for column, name in (("age", "n_ages"), ("gender", "n_genders"), ("hearing_loss", "n_labels")):
        if column in manifest:
            out[name] = by[column].nunique()
    if "session_id" in manifest:
        out["n_sessions"] = by["session_id"].nunique()
    # the subject's label and age group (first non-null) feed the class-balance tables
    for column in ("hearing_loss", "age_group"):
        if column in manifest:
            out[column] = by[column].first()
    if "hearing_loss" in out:
        out["hearing_loss"] = out["hearing_loss"].astype("Float64")
    return out.reset_index()


def _groups(subjects: pd.DataFrame) -> pd.DataFrame:
    """Per age group: subjects and the fraction of them with hearing loss."""
    if not {"age_group", "hearing_loss"} <= set(subjects):
        return pd.DataFrame({"age_group": pd.Series(dtype="string")})
    by = subjects.groupby("age_group", sort=True)
    out = pd.DataFrame(
        {"n_subjects": by.size(), "positive_rate": by["hearing_loss"].mean().astype("float64")}
    )
    return out.reset_index()


def tables(cohort: Path) -> dict[str, pd.DataFrame]:
    """The named tables ``EXPECTATIONS`` refer to; ``folds*`` only once the split step has run."""
    cohort = Path(cohort)
    manifest = read_parquet(cohort / MANIFEST_FILE)
    subjects = _subjects(manifest)
    out = {
        "meta": _meta(cohort),
        "manifest": manifest,
        "segments": _segments(manifest),
        "features": _features(cohort, manifest),
        "subjects": subjects,
        "groups": _groups(subjects),
    }
    if (cohort / FOLDS_FILE).exists():
        folds = read_parquet(cohort / FOLDS_FILE)
        out["folds_file"] = folds
        out["folds"] = fold_membership(folds, manifest, "subject_id", "manifest")
    return out


EXPECTATIONS: list[dict] = [
    # cohort.json
    expect(
        "meta",
        "ExpectColumnValuesToBeInSet",
        f"{MANIFEST_FILE} exists",
        column="manifest_exists",
        value_set=[True],
    ),
    expect(
        "meta", "ExpectColumnValuesToBeInSet", f"{META_FILE} exists", column="meta_exists", value_set=[True]
    ),
    expect(
        "meta",
        "ExpectColumnValuesToBeInSet",
        "the cohort is written in the format version this code reads",
        column="format_version",
        value_set=[FORMAT_VERSION],
    ),
    expect(
        "meta",
        "ExpectColumnValuesToBeInSet",
        "cohort.json declares the feature width the models expect",
        column="feature_dim",
        value_set=[FEATURE_DIM],
    ),
    expect(
        "meta",
        "ExpectColumnValuesToBeInSet",
        f"cohort.json declares {FPS} fps video",
        column="fps",
        value_set=[FPS],
    ),
    # manifest: schema, then values
    expect("manifest", "ExpectTableRowCountToBeBetween", "the manifest has segments", min_value=1),
    *column_schema(
        "manifest",
        MANIFEST_COLUMNS,
        file="the manifest",
        declared_by="dataset.MANIFEST_COLUMNS",
        row="segment",
    ),
    expect("manifest", "ExpectColumnValuesToBeUnique", "segment ids are unique", column="segment_id"),
    expect(
        "manifest",
        "ExpectCompoundColumnsToBeUnique",
        "a subject's segments have distinct segment_index values",
        column_list=["subject_id", "segment_index"],
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeBetween",
        f"ages lie in {AGE_RANGE[0]}-{AGE_RANGE[1]} (paper Table 1)",
        column="age",
        min_value=AGE_RANGE[0],
        max_value=AGE_RANGE[1],
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeInSet",
        "noise levels are quiet, 55, 65 or 75 dBA (paper §4.1)",
        column="noise_level_dba",
        value_set=list(NOISE_LEVELS_DBA),
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeInSet",
        "gender is a known value",
        column="gender",
        value_set=list(GENDERS),
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeInSet",
        "hearing_loss is a binary label",
        column="hearing_loss",
        value_set=[0, 1],
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeInSet",
        "age_group is one of the paper's groups",
        column="age_group",
        value_set=list(AGE_GROUPS),
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeBetween",
        f"a segment has {MIN_FRAMES}-{MAX_FRAMES} frames ({SEGMENT_SECONDS[0]:g}-{SEGMENT_SECONDS[1]:g} s "
        f"at {FPS} fps)",
        column="n_frames",
        min_value=MIN_FRAMES,
        max_value=MAX_FRAMES,
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeBetween",
        "segments start at or after 0 s",
        column="start_s",
        min_value=0,
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeBetween",
        "feature offsets are not negative",
        column="feature_offset",
        min_value=0,
    ),
    expect(
        "manifest",
        "ExpectColumnValuesToBeBetween",
        "segment_index counts from 0",
        column="segment_index",
        min_value=0,
    ),
    # segments: values derived per segment
    expect(
        "segments",
        "ExpectColumnValuesToBeBetween",
        f"a segment lasts {SEGMENT_SECONDS[0]:g}-{SEGMENT_SECONDS[1]:g} s (±{DURATION_TOLERANCE_S:g} s), "
        "the noise schedule's step (paper §4.1)",
        column="duration_s",
        min_value=SEGMENT_SECONDS[0] - DURATION_TOLERANCE_S,
        max_value=SEGMENT_SECONDS[1] + DURATION_TOLERANCE_S,
    ),
    expect(
        "segments",
        "ExpectColumnValuesToBeBetween",
        f"n_frames matches the segment's duration × {FPS} fps (±{FRAME_TOLERANCE:g} frames)",
        column="frames_minus_expected",
        min_value=-FRAME_TOLERANCE,
        max_value=FRAME_TOLERANCE,
    ),
    expect(
        "segments",
        "ExpectColumnPairValuesToBeEqual",
        "age_group is the group cohort.AGE_GROUPS assigns to the age",
        column_A="age_group",
        column_B="age_group_of_age",
        ignore_row_if="either_value_is_missing",  # null or out-of-range ages are reported above
    ),
    # features: one row per segment, streamed from the .npy files
    expect(
        "features",
        "ExpectColumnValuesToBeInSet",
        "every feature file exists",
        column="file_exists",
        value_set=[True],
    ),
    expect(
        "features",
        "ExpectColumnValuesToBeInSet",
        "every feature file is a loadable .npy array",
        column="file_readable",
        value_set=[True],
    ),
    expect(
        "features",
        "ExpectColumnValuesToBeInSet",
        "features are float32",
        column="dtype",
        value_set=["float32"],
    ),
    expect(
        "features",
        "ExpectColumnValuesToBeInSet",
        "feature arrays are 2-D [T, D]",
        column="ndim",
        value_set=[2],
    ),
    expect(
        "features",
        "ExpectColumnValuesToBeInSet",
        f"feature arrays have D = {FEATURE_DIM} columns (Marlin-Small)",
        column="n_columns",
        value_set=[FEATURE_DIM],
    ),
    expect(
        "features",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "the feature file has the rows the segment points at (offset + n_frames)",
        column_A="rows_available",
        column_B="rows_needed",
        or_equal=True,
        ignore_row_if="either_value_is_missing",  # missing files and columns are reported above
    ),
    expect(
        "features",
        "ExpectColumnValuesToBeInSet",
        "features are finite (no NaN or inf)",
        column="n_nonfinite",
        value_set=[0],
    ),
    # subjects
    expect(
        "subjects", "ExpectColumnValuesToBeInSet", "a subject has one age", column="n_ages", value_set=[1]
    ),
    expect(
        "subjects",
        "ExpectColumnValuesToBeInSet",
        "a subject has one gender",
        column="n_genders",
        value_set=[1],
    ),
    expect(
        "subjects",
        "ExpectColumnValuesToBeInSet",
        "a subject has one hearing-loss label",
        column="n_labels",
        value_set=[1],
    ),
    expect(
        "subjects",
        "ExpectColumnValuesToBeInSet",
        "a subject belongs to one session",
        column="n_sessions",
        value_set=[1],
    ),
    expect(
        "subjects",
        "ExpectColumnMeanToBeBetween",
        f"the share of subjects with hearing loss is within {POSITIVE_RATE[0]}-{POSITIVE_RATE[1]}",
        column="hearing_loss",
        min_value=POSITIVE_RATE[0],
        max_value=POSITIVE_RATE[1],
    ),
    # groups
    expect(
        "groups",
        "ExpectColumnDistinctValuesToContainSet",
        "every age group of the paper has subjects",
        column="age_group",
        value_set=list(AGE_GROUPS),
    ),
    expect(
        "groups",
        "ExpectColumnValuesToBeBetween",
        f"an age group with at least {MIN_GROUP_SUBJECTS} subjects has both classes (0 < positive rate < 1)",
        column="positive_rate",
        min_value=0.0,
        max_value=1.0,
        strict_min=True,
        strict_max=True,
        # GE 1.x's serialized Condition (string row conditions are deprecated since GX 1.9)
        row_condition={
            "type": "comparison",
            "column": {"name": "n_subjects"},
            "operator": ">=",
            "parameter": MIN_GROUP_SUBJECTS,
        },
    ),
    # folds (after the split step)
    expect(
        "folds",
        "ExpectColumnValuesToBeInSet",
        "every manifest subject has a fold",
        column="in_folds",
        value_set=[True],
    ),
    expect(
        "folds",
        "ExpectColumnValuesToBeInSet",
        "every subject in folds.parquet is in the manifest",
        column="in_manifest",
        value_set=[True],
    ),
    expect(
        "folds",
        "ExpectColumnValuesToBeBetween",
        "no subject is in two folds (subject-independent evaluation)",
        column="n_folds",
        max_value=1,
    ),
    # folds.parquet as written by the split step
    *folds_file_rules(FOLDS_COLUMNS, N_FOLDS),
]
