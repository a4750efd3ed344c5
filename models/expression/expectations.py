"""What a valid expression dataset looks like, as data: named tables plus declarative expectations.

``tables(root)`` turns a dataset directory (format: ``dataset.py``) into small pandas tables (file
metadata, videos, annotations, faces, feature files, classes, folds); ``EXPECTATIONS`` names Great
Expectations classes and their kwargs over them; ``components/validate.py`` runs them. A broken
dataset never makes ``tables()`` crash: a missing or unreadable file becomes a column value
that the matching expectation reports; only an unreadable table file raises ``DatasetError``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.common.expectations import (
    column_schema,
    expect,
    fold_membership,
    folds_file_rules,
    in_set,
    read_json_object,
    read_parquet,
)
from models.expression.annotations import HEADER
from models.expression.dataset import (
    FOLDS_COLUMNS,
    FOLDS_FILE,
    FORMAT_VERSION,
    META_FILE,
    PARTITIONS,
    VIDEO_COLUMNS,
    VIDEOS_FILE,
    annotation_path,
    faces_path,
    feature_path,
)
from models.expression.features import CLASSES, FEATURES, INVALID_LABEL, N_CLASSES, is_visual

N_FOLDS = 5  # paper §4.6: K = 5

ID_COLUMNS: dict[str, list[str]] = {
    "meta": [],
    "declared": ["feature"],
    "videos": ["video_id"],
    "annotations": ["video_id"],
    "faces": ["video_id"],
    "features": ["feature", "video_id"],
    "classes": ["expression"],
    "folds": ["video_id"],
    "subjects": ["subject_id"],
    "folds_file": ["video_id"],
}


def _meta(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The top-level files, and one row per feature dataset.json declares (with its real width)."""
    path = root / META_FILE
    row = {
        "meta_exists": path.exists(),
        "videos_exists": (root / VIDEOS_FILE).exists(),
        "format_version": None,
    }
    declared: dict = {}
    if path.exists():
        meta = read_json_object(path)
        row["format_version"] = meta.get("format_version")
        declared = meta.get("features") if isinstance(meta.get("features"), dict) else {}
    row["n_features"] = len(declared)
    features = pd.DataFrame(
        {
            "feature": pd.Series(list(declared), dtype="string"),
            "declared_dim": pd.Series([declared[k] for k in declared], dtype="Int64"),
            "paper_dim": pd.Series(
                [FEATURES[k][1] if k in FEATURES else None for k in declared], dtype="Int64"
            ),
        }
    )
    return pd.DataFrame([row]), features, declared


def _annotation(path: Path) -> dict:
    out: dict = {"file_exists": path.is_file(), "header_ok": None, "n_labels": None, "n_bad_labels": None}
    if not path.is_file():
        return out
    lines = path.read_text(errors="replace").splitlines()
    out["header_ok"] = bool(lines) and lines[0].strip().lower() == HEADER.lower()
    values = pd.to_numeric(pd.Series(lines[1:], dtype="string").str.strip(), errors="coerce")
    out["n_labels"] = len(values)
    out["n_bad_labels"] = int((values.isna() | (values < INVALID_LABEL) | (values >= N_CLASSES)).sum())
    out["labels"] = values.dropna().astype(int).to_numpy()
    return out


def _npy(path: Path) -> tuple[np.ndarray | None, dict]:
    out: dict = {"file_exists": path.is_file(), "file_readable": None}
    if not path.is_file():
        return None, out
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception:  # truncated header, pickled object array, not an .npy at all
        out["file_readable"] = False
        return None, out
    out["file_readable"] = True
    return array, out


def _per_video(root: Path, videos: pd.DataFrame, declared: dict) -> dict[str, pd.DataFrame]:
    annotations, faces, features = [], [], []
    counts = np.zeros(N_CLASSES, dtype=np.int64)
    frames = videos["n_frames"] if "n_frames" in videos else pd.Series([None] * len(videos))
    for video, n_frames in zip(videos["video_id"], frames, strict=True):
        n_frames = int(n_frames) if pd.notna(n_frames) else None
        ann = _annotation(annotation_path(root, video))
        labels = ann.pop("labels", np.array([], dtype=int))
        counts += np.bincount(labels[labels >= 0], minlength=N_CLASSES)[:N_CLASSES]
        ann["labels_minus_frames"] = (
            None if ann["n_labels"] is None or n_frames is None else ann["n_labels"] - n_frames
        )
        annotations.append({"video_id": video, **ann})
        array, face = _npy(faces_path(root, video))
        n_faces = None
        if array is not None:
            index = np.asarray(array).reshape(-1) if array.dtype.kind in "iu" else None
            n_faces = len(index) if index is not None else None
            face.update(
                dtype_integer=index is not None,
                n_faces=n_faces,
                ordered_in_range=None
                if index is None or n_frames is None
                else bool(
                    len(index) and (np.diff(index) > 0).all() and index[0] >= 0 and index[-1] < n_frames
                ),
            )
        faces.append({"video_id": video, **face})
        for name, width in declared.items():
            array, stats = _npy(feature_path(root, name, video))
            row = {"feature": name, "video_id": video, **stats, "declared_dim": width}
            row["rows_expected"] = n_faces if name in FEATURES and is_visual(name) else n_frames
            if array is not None:
                row.update(dtype=str(array.dtype), ndim=array.ndim)
                row["n_columns"] = array.shape[1] if array.ndim == 2 else None
                row["n_rows"] = array.shape[0] if array.ndim >= 1 else None
                numeric = array.ndim == 2 and np.issubdtype(array.dtype, np.number)
                row["n_nonfinite"] = int((~np.isfinite(array)).sum()) if numeric else None
            features.append(row)
    feature_table = pd.DataFrame(features)
    for column in ("declared_dim", "rows_expected", "n_columns", "n_rows", "n_nonfinite", "ndim"):
        if column in feature_table:
            feature_table[column] = feature_table[column].astype("Int64")
    annotation_table = pd.DataFrame(annotations)
    for column in ("n_labels", "n_bad_labels", "labels_minus_frames"):
        if column in annotation_table:
            annotation_table[column] = annotation_table[column].astype("Int64")
    classes = pd.DataFrame({"expression": list(CLASSES), "frames": counts})
    return {
        "annotations": annotation_table,
        "faces": pd.DataFrame(faces),
        "features": feature_table,
        "classes": classes,
    }


def _folds(folds: pd.DataFrame, videos: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per video: in both tables, in how many folds; per subject: in how many folds."""
    out = fold_membership(folds, videos, "video_id", "videos")
    subjects = pd.DataFrame({"subject_id": pd.Series(dtype="string")})
    if {"video_id", "fold"} <= set(folds) and {"video_id", "subject_id"} <= set(videos):
        # the subject from videos.parquet, so a folds file cannot hide a split subject
        joined = folds[["video_id", "fold"]].merge(videos[["video_id", "subject_id"]], on="video_id")
        subjects = joined.groupby("subject_id")["fold"].nunique().rename("n_folds").reset_index()
    return out, subjects


def tables(root: Path) -> dict[str, pd.DataFrame]:
    """The named tables ``EXPECTATIONS`` refer to; ``folds*`` and ``subjects`` only after the split."""
    root = Path(root)
    meta, declared_table, declared = _meta(root)
    videos = read_parquet(root / VIDEOS_FILE)
    ids = videos[["video_id"] + [c for c in ("n_frames",) if c in videos]] if "video_id" in videos else None
    out = {"meta": meta, "declared": declared_table, "videos": videos}
    if ids is not None:
        out.update(_per_video(root, ids.dropna(subset=["video_id"]), declared))
    if (root / FOLDS_FILE).exists():
        folds = read_parquet(root / FOLDS_FILE)
        out["folds_file"] = folds
        out["folds"], out["subjects"] = _folds(folds, videos)
    return out


EXPECTATIONS: list[dict] = [
    in_set("meta", "meta_exists", [True], f"{META_FILE} exists"),
    in_set("meta", "videos_exists", [True], f"{VIDEOS_FILE} exists"),
    in_set(
        "meta", "format_version", [FORMAT_VERSION], "the dataset is in the format version this code reads"
    ),
    expect(
        "meta",
        "ExpectColumnValuesToBeBetween",
        "dataset.json declares at least one feature",
        column="n_features",
        min_value=1,
    ),
    in_set("declared", "feature", list(FEATURES), "declared features are the paper's (§3.2)"),
    expect(
        "declared",
        "ExpectColumnPairValuesToBeEqual",
        "a declared feature has the paper's width (§3.2)",
        column_A="declared_dim",
        column_B="paper_dim",
    ),
    expect("videos", "ExpectTableRowCountToBeBetween", "the dataset has videos", min_value=1),
    *column_schema(
        "videos", VIDEO_COLUMNS, file="videos.parquet", declared_by="dataset.VIDEO_COLUMNS", row="video"
    ),
    expect("videos", "ExpectColumnValuesToBeUnique", "video ids are unique", column="video_id"),
    expect("videos", "ExpectColumnValuesToBeBetween", "a video has frames", column="n_frames", min_value=1),
    expect(
        "videos",
        "ExpectColumnValuesToBeBetween",
        "fps is positive",
        column="fps",
        min_value=0,
        strict_min=True,
    ),
    in_set("videos", "partition", list(PARTITIONS), "partition is Aff-Wild2's train or validation"),
    in_set("annotations", "file_exists", [True], "every video has annotations/<video>.txt"),
    in_set("annotations", "header_ok", [True], f"an annotation file starts with the header {HEADER!r}"),
    in_set("annotations", "n_bad_labels", [0], f"labels are integers in {INVALID_LABEL}..{N_CLASSES - 1}"),
    in_set(
        "annotations",
        "labels_minus_frames",
        [0],
        "one label per video frame (n_frames lines after the header)",
    ),
    in_set("faces", "file_exists", [True], "every video has faces/<video>.npy"),
    in_set("faces", "file_readable", [True], "the face index is a loadable .npy array"),
    in_set("faces", "dtype_integer", [True], "the face index holds integer frame numbers"),
    expect(
        "faces",
        "ExpectColumnValuesToBeBetween",
        "a video has a face in some frame",
        column="n_faces",
        min_value=1,
    ),
    in_set(
        "faces",
        "ordered_in_range",
        [True],
        "face frames are sorted, distinct and within 0..n_frames-1 (§3.1)",
    ),
    in_set("features", "file_exists", [True], "every declared feature has a file for every video"),
    in_set("features", "file_readable", [True], "every feature file is a loadable .npy array"),
    in_set("features", "dtype", ["float32"], "features are float32"),
    in_set("features", "ndim", [2], "feature arrays are 2-D [rows, dim]"),
    expect(
        "features",
        "ExpectColumnPairValuesToBeEqual",
        "a feature file has its feature's width",
        column_A="n_columns",
        column_B="declared_dim",
        ignore_row_if="either_value_is_missing",
    ),
    expect(
        "features",
        "ExpectColumnPairValuesToBeEqual",
        "visual features have one row per face frame, audio features one per video frame",
        column_A="n_rows",
        column_B="rows_expected",
        ignore_row_if="either_value_is_missing",
    ),
    in_set("features", "n_nonfinite", [0], "features are finite (no NaN or inf)"),
    expect(
        "classes",
        "ExpectColumnValuesToBeBetween",
        "every one of the 8 expressions has labelled frames (mean F1 over 8 classes, Eq. 5)",
        column="frames",
        min_value=1,
    ),
    in_set("folds", "in_folds", [True], "every video has a fold"),
    in_set("folds", "in_videos", [True], "every video in folds.parquet is in videos.parquet"),
    expect(
        "folds", "ExpectColumnValuesToBeBetween", "no video is in two folds", column="n_folds", max_value=1
    ),
    expect(
        "subjects",
        "ExpectColumnValuesToBeBetween",
        "a subject's videos share one fold (subject-independent evaluation)",
        column="n_folds",
        max_value=1,
    ),
    *folds_file_rules(FOLDS_COLUMNS, N_FOLDS),
]
