"""The AU datasets' published layouts, read and written (NOTES-wave2 §1.6), plus what they lack.

A dataset is a directory in one of two layouts, with ``dataset.json`` beside it::

    dataset.json                          format version, layout (bp4d | disfa), image size, provenance
    BP4D:  AUCoding/AU_OCC/{subj}_{task}.csv   header of AU numbers, column "0" the frame number,
                                               values 0 / 1, 9 = not coded (masked)
           images/{subj}/{task}/{frame}.jpg
    DISFA: ActionUnit_Labels/{SN}/{SN}_au{N}.txt   one "frame,intensity" line per frame, frames from 1,
                                                   intensity 0-5, positive at >= 2
           images/{SN}/{i}.png                     i from 0: label frame f is image f - 1
    landmarks/{sequence}.npz              frames (label frame numbers), points float32 [n, 68, 2] (x, y px)
    unlabelled/images/{name}.jpg          the pre-training pool (EmotioNet-like: images, no labels)
    unlabelled/landmarks.npz              names, points float32 [n, 68, 2]
    folds.parquet                         written by the split: subject_id, fold

Images are aligned square face crops of ``image_size`` pixels (choice: the published layouts ship
raw frames; alignment is a preprocessing step before this layout, as in ME-GraphAU's tools). The
published layouts ship no 68-point landmarks in this form; ``landmarks/`` holds a detector's output
(or the synthetic generator's). A sequence is a BP4D subject's task or a DISFA subject's video.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from models.action_units.aus import DISFA_CODED_AUS, LAYOUT_AUS, au_columns
from models.common.folds import FOLDS_FILE, write_typed

FORMAT_VERSION = 1
META_FILE = "dataset.json"
LAYOUTS = ("bp4d", "disfa")
BP4D_LABELS = Path("AUCoding") / "AU_OCC"
DISFA_LABELS = Path("ActionUnit_Labels")
IMAGES = "images"
LANDMARKS = "landmarks"
POOL = "unlabelled"
NOT_CODED = 9  # BP4D's value for a frame not coded for an AU
MASKED = -1  # an uncoded label in the frame table: excluded from losses and F1
DISFA_POSITIVE = 2  # paper §3.1: intensity > 1 is positive
FOLDS_COLUMNS: dict[str, str] = {"subject_id": "string", "fold": "int8"}


def read_meta(root: Path) -> dict:
    path = Path(root) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{root} has no {META_FILE}; not an action-unit dataset")
    meta = json.loads(path.read_text())
    if meta.get("layout") not in LAYOUTS:
        raise ValueError(f"{path}: layout must be one of {', '.join(LAYOUTS)}, got {meta.get('layout')!r}")
    return meta


def write_meta(root: Path, layout: str, image_size: int, provenance: dict) -> None:
    meta = {"format_version": FORMAT_VERSION, "layout": layout, "image_size": image_size}
    (Path(root) / META_FILE).write_text(json.dumps({**meta, "provenance": provenance}, indent=2))


def aus_of(root: Path) -> tuple[int, ...]:
    return LAYOUT_AUS[read_meta(root)["layout"]]


# -- BP4D -----------------------------------------------------------------------------------------


def bp4d_label_path(root: Path, subject: str, task: str) -> Path:
    return Path(root) / BP4D_LABELS / f"{subject}_{task}.csv"


def write_bp4d_labels(path: Path, frames: np.ndarray, codes: dict[int, np.ndarray]) -> None:
    """``codes``: AU number -> per-frame 0 / 1 / 9, written in BP4D's AU_OCC CSV form."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"0": frames, **{str(au): values for au, values in sorted(codes.items())}})
    table.to_csv(path, index=False)


def read_bp4d_labels(path: Path) -> pd.DataFrame:
    """frame, then au<N> for BP4D's 12 AUs: 1 / 0, or MASKED where the file says 9 (not coded)."""
    table = pd.read_csv(path)
    wanted = [str(au) for au in LAYOUT_AUS["bp4d"]]
    missing = [c for c in ["0", *wanted] if c not in table]
    if missing:
        raise ValueError(f"{path}: no column(s) {', '.join(missing)} (header holds AU numbers, 0 = frame)")
    out = pd.DataFrame({"frame": table["0"].astype("int64")})
    for au in wanted:
        values = table[au].astype("int64")
        out[f"au{au}"] = values.where(values != NOT_CODED, MASKED).astype("int8")
    return out


def bp4d_image(subject: str, task: str, frame: int) -> str:
    return f"{IMAGES}/{subject}/{task}/{frame}.jpg"


# -- DISFA ----------------------------------------------------------------------------------------


def disfa_label_path(root: Path, subject: str, au: int) -> Path:
    return Path(root) / DISFA_LABELS / subject / f"{subject}_au{au}.txt"


def write_disfa_labels(
    root: Path, subject: str, frames: np.ndarray, intensity: dict[int, np.ndarray]
) -> None:
    """``intensity``: AU number -> per-frame 0-5, one file per AU DISFA codes (absent AUs all 0)."""
    for au in DISFA_CODED_AUS:
        path = disfa_label_path(root, subject, au)
        path.parent.mkdir(parents=True, exist_ok=True)
        values = intensity.get(au, np.zeros(len(frames), dtype=np.int64))
        path.write_text("".join(f"{f},{int(v)}\n" for f, v in zip(frames, values, strict=True)))


def read_disfa_file(path: Path) -> pd.DataFrame:
    """One DISFA label file -> frame (from 1), intensity."""
    return pd.read_csv(path, header=None, names=["frame", "intensity"], dtype="int64")


def read_disfa_labels(root: Path, subject: str) -> pd.DataFrame:
    """frame, then au<N> for RRL's 8 DISFA AUs: 1 where intensity >= 2 (paper §3.1), else 0."""
    out: pd.DataFrame | None = None
    for au in LAYOUT_AUS["disfa"]:
        part = read_disfa_file(disfa_label_path(root, subject, au))
        part = part.rename(columns={"intensity": f"au{au}"})
        part[f"au{au}"] = (part[f"au{au}"] >= DISFA_POSITIVE).astype("int8")
        out = part if out is None else out.merge(part, on="frame", how="inner", validate="one_to_one")
    return out


def disfa_image(subject: str, frame: int) -> str:
    return f"{IMAGES}/{subject}/{frame - 1}.png"  # images count from 0, label frames from 1


# -- both -----------------------------------------------------------------------------------------


def landmarks_path(root: Path, sequence: str) -> Path:
    return Path(root) / LANDMARKS / f"{sequence}.npz"


def write_landmarks(path: Path, frames: np.ndarray, points: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, frames=np.asarray(frames, dtype=np.int64), points=np.asarray(points, dtype=np.float32))


def sequences(root: Path) -> pd.DataFrame:
    """One row per labelled sequence: subject_id, sequence_id, task (BP4D; "" for DISFA)."""
    root = Path(root)
    layout = read_meta(root)["layout"]
    rows = []
    if layout == "bp4d":
        for path in sorted((root / BP4D_LABELS).glob("*_*.csv")):
            subject, _, task = path.stem.partition("_")
            rows.append((subject, path.stem, task))
    else:
        for path in sorted(p for p in (root / DISFA_LABELS).glob("*") if p.is_dir()):
            rows.append((path.name, path.name, ""))
    return pd.DataFrame(rows, columns=["subject_id", "sequence_id", "task"], dtype="string")


def sequence_labels(root: Path, layout: str, subject: str, task: str) -> pd.DataFrame:
    """A sequence's frame, image (relative path) and au<N> columns."""
    if layout == "bp4d":
        labels = read_bp4d_labels(bp4d_label_path(root, subject, task))
        labels.insert(1, "image", [bp4d_image(subject, task, int(f)) for f in labels["frame"]])
    else:
        labels = read_disfa_labels(root, subject)
        labels.insert(1, "image", [disfa_image(subject, int(f)) for f in labels["frame"]])
    return labels


def frame_table(root: Path) -> pd.DataFrame:
    """Every labelled frame: subject_id, sequence_id, frame, image, au<N> (1 / 0 / MASKED)."""
    root = Path(root)
    layout = read_meta(root)["layout"]
    parts = []
    for subject, sequence, task in sequences(root).itertuples(index=False):
        labels = sequence_labels(root, layout, subject, task)
        labels.insert(0, "subject_id", subject)
        labels.insert(1, "sequence_id", sequence)
        parts.append(labels)
    columns = ["subject_id", "sequence_id", "frame", "image", *au_columns(LAYOUT_AUS[layout])]
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)[columns]
    return table.astype({"subject_id": "string", "sequence_id": "string", "image": "string"})


def frame_landmarks(root: Path, frames: pd.DataFrame) -> np.ndarray:
    """float32 [n, 68, 2]: each row's landmarks from its sequence's file (KeyError naming a gap)."""
    out = np.empty((len(frames), 68, 2), dtype=np.float32)
    for sequence, rows in frames.groupby("sequence_id", sort=False).indices.items():
        stored = np.load(landmarks_path(root, sequence))
        index = {int(f): i for i, f in enumerate(stored["frames"])}
        wanted = frames["frame"].to_numpy()[rows]
        missing = [int(f) for f in wanted if int(f) not in index]
        if missing:
            raise KeyError(f"{sequence}: no landmarks for frame(s) {missing[:5]}")
        out[rows] = stored["points"][[index[int(f)] for f in wanted]]
    return out


def pool_path(root: Path) -> Path:
    return Path(root) / POOL / "landmarks.npz"


def pool_table(root: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The unlabelled pool: (image paths relative to the root, landmarks [n, 68, 2]); empty without one."""
    path = pool_path(root)
    if not path.is_file():
        return pd.DataFrame({"image": pd.Series(dtype="string")}), np.zeros((0, 68, 2), np.float32)
    stored = np.load(path)
    images = [f"{POOL}/{IMAGES}/{name}.jpg" for name in stored["names"]]
    return pd.DataFrame({"image": pd.Series(images, dtype="string")}), stored["points"].astype(np.float32)


def write_folds(root: Path, folds: pd.DataFrame) -> Path:
    return write_typed(Path(root) / FOLDS_FILE, folds, FOLDS_COLUMNS)
