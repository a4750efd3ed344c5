"""What a valid AU dataset looks like, as data: named tables plus declarative Great Expectations.

``tables(root)`` turns a dataset (format: ``dataset.py``) into small pandas tables: its metadata, one
row per label file, per labelled frame (image present, decodable, of the declared size, with
landmarks), per landmarks file, per AU (coded and positive frames), the unlabelled pool and, after
the split, the folds. A broken file becomes a value the matching expectation reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from models.action_units.aus import DISFA_CODED_AUS, LAYOUT_AUS, N_FOLDS, published_fold
from models.action_units.dataset import (
    FOLDS_COLUMNS,
    FORMAT_VERSION,
    LAYOUTS,
    MASKED,
    META_FILE,
    NOT_CODED,
    POOL,
    disfa_label_path,
    landmarks_path,
    pool_path,
    pool_table,
    read_disfa_file,
    sequence_labels,
    sequences,
)
from models.common.expectations import (
    expect,
    fold_membership,
    folds_file_rules,
    in_set,
    read_json_object,
    read_parquet,
)
from models.common.folds import FOLDS_FILE

MAX_UNCODED_SHARE = 0.5  # choice: a sequence mostly not coded is a broken label file, not masking

ID_COLUMNS: dict[str, list[str]] = {
    "meta": [],
    "label_files": ["sequence_id", "file"],
    "frames": ["sequence_id", "frame"],
    "landmarks": ["sequence_id"],
    "aus": ["au"],
    "pool": ["image"],
    "pool_size": [],
    "folds": ["subject_id"],
    "subjects": ["subject_id"],
    "folds_file": ["subject_id"],
}


def _meta(root: Path) -> tuple[pd.DataFrame, dict]:
    path = root / META_FILE
    meta = read_json_object(path) if path.exists() else {}
    size = meta.get("image_size")
    row = {
        "meta_exists": path.exists(),
        "format_version": meta.get("format_version"),
        "layout": meta.get("layout"),
        "image_size_ok": isinstance(size, int) and size >= 16 and size % 16 == 0,
        "synthetic": bool(meta.get("provenance", {}).get("synthetic", False)),
    }
    return pd.DataFrame([row]), meta


def _image(path: Path, size: int | None) -> dict:
    out = {"image_exists": path.is_file(), "image_readable": None, "image_size_ok": None}
    if not out["image_exists"]:
        return out
    try:
        with Image.open(path) as image:
            image.load()  # decodes every byte: a truncated file fails here
            out["image_size_ok"] = image.size == (size, size)
        out["image_readable"] = True
    except Exception:  # PIL raises several types for a damaged or foreign file
        out["image_readable"] = False
    return out


def _label_file_rows(root: Path, layout: str, subject: str, sequence: str, task: str) -> list[dict]:
    """One row per label file of a sequence: readable, codes in range, no repeated frame, uncoded share."""
    if layout == "bp4d":
        files = [(root / "AUCoding" / "AU_OCC" / f"{sequence}.csv", None)]
    else:
        files = [(disfa_label_path(root, subject, au), au) for au in DISFA_CODED_AUS]
    rows = []
    for path, au in files:
        row = {"sequence_id": sequence, "file": path.name, "file_exists": path.is_file(), "readable": None}
        row.update(n_bad_values=None, n_repeated_frames=None, uncoded_share=None)
        if path.is_file():
            try:
                table = pd.read_csv(path) if au is None else read_disfa_file(path)
                row["readable"] = True
            except Exception:  # a damaged CSV: pandas raises several types
                row["readable"] = False
                rows.append(row)
                continue
            frames = table["0"] if au is None and "0" in table else table.get("frame", pd.Series(dtype=int))
            row["n_repeated_frames"] = int(frames.duplicated().sum())
            if au is None:
                wanted = [str(a) for a in LAYOUT_AUS["bp4d"]]
                row["header_ok"] = all(c in table for c in ["0", *wanted])
                values = table[[c for c in wanted if c in table]]
                values = values.apply(pd.to_numeric, errors="coerce")
                row["n_bad_values"] = int((~values.isin([0, 1, NOT_CODED])).to_numpy().sum())
                row["uncoded_share"] = float((values == NOT_CODED).to_numpy().mean()) if values.size else None
            else:
                row["header_ok"] = True
                row["n_bad_values"] = int((~table["intensity"].between(0, 5)).sum())
                row["uncoded_share"] = 0.0
        rows.append(row)
    return rows


def _sequence(
    root: Path, layout: str, size, subject, sequence, task
) -> tuple[list[dict], list[dict], dict, np.ndarray]:
    label_rows = _label_file_rows(root, layout, subject, sequence, task)
    mark = {"sequence_id": sequence, "file_exists": landmarks_path(root, sequence).is_file()}
    mark.update(readable=None, shape_ok=None, n_nonfinite=None, n_outside=None)
    try:
        labels = sequence_labels(root, layout, subject, task)
    except Exception:  # reported by the label-file rows
        return label_rows, [], mark, np.zeros((0, len(LAYOUT_AUS[layout])), np.int8)
    stored_frames: set[int] = set()
    if mark["file_exists"]:
        try:
            stored = np.load(landmarks_path(root, sequence))
            points, stored_frames = stored["points"], {int(f) for f in stored["frames"]}
            mark["readable"] = True
            mark["shape_ok"] = (
                points.ndim == 3 and points.shape[1:] == (68, 2) and len(points) == len(stored_frames)
            )
            mark["n_nonfinite"] = int((~np.isfinite(points)).sum())
            if isinstance(size, int):  # a point far outside the crop: not this image's landmarks
                mark["n_outside"] = int(((points < -0.1 * size) | (points > 1.1 * size)).any(axis=-1).sum())
        except Exception:  # not an npz, or without frames / points
            mark["readable"] = False
    frames = []
    for frame, image in labels[["frame", "image"]].itertuples(index=False):
        row = {"sequence_id": sequence, "frame": int(frame), **_image(root / image, size)}
        row["has_landmarks"] = int(frame) in stored_frames
        frames.append(row)
    columns = [c for c in labels if c.startswith("au")]
    return label_rows, frames, mark, labels[columns].to_numpy()


def _folds(folds: pd.DataFrame, seqs: pd.DataFrame, layout: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = fold_membership(folds, seqs, "subject_id", "labels")
    subjects = out[["subject_id"]].copy()
    published = published_fold(layout) if layout in LAYOUTS else {}
    if {"subject_id", "fold"} <= set(folds):
        rows = folds.dropna(subset=["subject_id"])
        n = rows.groupby("subject_id")["fold"].nunique()
        as_published = rows["fold"].eq(rows["subject_id"].map(published)).groupby(rows["subject_id"]).all()
        subjects["n_folds"] = subjects["subject_id"].map(n).fillna(0).astype("int64")
        subjects["published_fold"] = subjects["subject_id"].map(as_published).astype("boolean")
    return out, subjects


def tables(root: Path) -> dict[str, pd.DataFrame]:
    """The named tables ``EXPECTATIONS`` refer to; ``folds*`` and ``subjects`` only after the split."""
    root = Path(root)
    meta_table, meta = _meta(root)
    layout, size = meta.get("layout"), meta.get("image_size")
    out = {"meta": meta_table}
    label_rows, frame_rows, mark_rows, codes = [], [], [], []
    seqs = (
        sequences(root) if layout in LAYOUTS else pd.DataFrame(columns=["subject_id", "sequence_id", "task"])
    )
    for subject, sequence, task in seqs.itertuples(index=False):
        labels, frames, mark, values = _sequence(root, layout, size, subject, sequence, task)
        label_rows += labels
        frame_rows += frames
        mark_rows.append(mark)
        codes.append(values)
    out["label_files"] = pd.DataFrame(label_rows)
    out["frames"] = pd.DataFrame(frame_rows)
    out["landmarks"] = pd.DataFrame(mark_rows)
    if layout in LAYOUTS:
        aus = LAYOUT_AUS[layout]
        values = np.concatenate(codes) if codes else np.zeros((0, len(aus)), np.int8)
        out["aus"] = pd.DataFrame(
            {"au": list(aus), "coded": (values != MASKED).sum(0), "positive": (values == 1).sum(0)}
        )
    pool, points = pool_table(root) if pool_path(root).is_file() else (pd.DataFrame({"image": []}), None)
    out["pool"] = pd.DataFrame([{"image": image, **_image(root / image, size)} for image in pool["image"]])
    out["pool_size"] = pd.DataFrame(
        [{"images": len(pool), "landmarks_match": points is None or len(points) == len(pool)}]
    )
    if (root / FOLDS_FILE).exists():
        folds = read_parquet(root / FOLDS_FILE)
        out["folds_file"] = folds
        out["folds"], out["subjects"] = _folds(folds, seqs, layout)
    return out


EXPECTATIONS: list[dict] = [
    in_set("meta", "meta_exists", [True], f"{META_FILE} exists"),
    in_set(
        "meta", "format_version", [FORMAT_VERSION], "the dataset is in the format version this code reads"
    ),
    in_set("meta", "layout", list(LAYOUTS), "the layout is BP4D's or DISFA's"),
    in_set(
        "meta", "image_size_ok", [True], "image_size is a multiple of 16 (the attention grid, paper §2.2)"
    ),
    expect(
        "label_files", "ExpectTableRowCountToBeBetween", "the dataset has labelled sequences", min_value=1
    ),
    in_set(
        "label_files", "file_exists", [True], "every sequence has its label file(s) (DISFA: one per coded AU)"
    ),
    in_set("label_files", "readable", [True], "label files parse as CSV"),
    in_set("label_files", "header_ok", [True], "a BP4D label file has column 0 (frame) and the 12 AUs"),
    in_set("label_files", "n_bad_values", [0], "codes are 0 / 1 / 9 (BP4D) or intensities 0-5 (DISFA)"),
    in_set("label_files", "n_repeated_frames", [0], "a frame appears once per label file"),
    expect(
        "label_files",
        "ExpectColumnValuesToBeBetween",
        f"at most {MAX_UNCODED_SHARE:.0%} of a sequence's labels are not coded (9, masked)",
        column="uncoded_share",
        max_value=MAX_UNCODED_SHARE,
    ),
    in_set("frames", "image_exists", [True], "every labelled frame has its image (DISFA: image f - 1)"),
    in_set("frames", "image_readable", [True], "images decode completely (not truncated or corrupt)"),
    in_set("frames", "image_size_ok", [True], "images are square crops of the declared image_size"),
    in_set("frames", "has_landmarks", [True], "every labelled frame has 68 landmarks (attention maps, §2.2)"),
    in_set("landmarks", "file_exists", [True], "every sequence has landmarks/<sequence>.npz"),
    in_set("landmarks", "readable", [True], "landmark files hold frames and points"),
    in_set("landmarks", "shape_ok", [True], "points are [frames, 68, 2]"),
    in_set("landmarks", "n_nonfinite", [0], "landmarks are finite"),
    in_set("landmarks", "n_outside", [0], "landmarks lie on the face crop"),
    expect(
        "aus",
        "ExpectColumnValuesToBeBetween",
        "every AU has positive coded frames (per-AU F1, §3.1)",
        column="positive",
        min_value=1,
    ),
    expect(
        "pool_size",
        "ExpectColumnValuesToBeBetween",
        f"{POOL}/ has images for self-supervised pre-training (§3.1)",
        column="images",
        min_value=1,
    ),
    in_set("pool_size", "landmarks_match", [True], "the pool has one landmark set per image"),
    in_set("pool", "image_readable", [True], "pool images decode completely"),
    in_set("pool", "image_size_ok", [True], "pool images are crops of the declared image_size"),
    in_set("folds", "in_folds", [True], "every subject has a fold"),
    in_set("folds", "in_labels", [True], "every subject in folds.parquet has labelled sequences"),
    expect(
        "subjects",
        "ExpectColumnValuesToBeBetween",
        "no subject is in two folds (subject-independent evaluation)",
        column="n_folds",
        max_value=1,
    ),
    in_set("subjects", "published_fold", [True], "a subject's fold is its published part (NOTES §1.6)"),
    *folds_file_rules(FOLDS_COLUMNS, N_FOLDS),
]
