"""The dataset format: a corpus's audio in its own layout, an IFER image folder, the S1-S4 partitions.

    dataset.json                   {"format_version", "corpus": crema_d | ravdess, "synthetic"}
    AudioWAV/<stem>.wav            CREMA-D layout (corpus.py names the fields of a stem)
    Actor_<nn>/<stem>.wav          RAVDESS layout (speech and song)
    frames/<stem>.png              the clip's face (its video's apex frame): the pairing of setting P
    IFER/<emotion>/<name>.png      labelled face images, one folder per emotion (the source domain)
    partitions.parquet             actor -> S1 | S2 | S3 | S4 (split.py), speaker-disjoint

A real CREMA-D or RAVDESS download is read in place: put its WAVs in the layout above, an IFER set
beside it, write dataset.json and run ``split.partition``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from models.audio_emotion.corpus import CORPORA, CREMA_D, gender, parse

FORMAT_VERSION = 1
META_FILE = "dataset.json"
PARTITIONS_FILE = "partitions.parquet"
CREMA_DIR = "AudioWAV"
RAVDESS_GLOB = "Actor_*"
FRAMES_DIR = "frames"
IFER_DIR = "IFER"
PARTITIONS = ("S1", "S2", "S3", "S4")  # S1 labelled, S2 + S3 unlabelled, S4 test (paper §3)
LABELLED, UNLABELLED, TEST = ("S1",), ("S2", "S3"), "S4"
IMAGE_SUFFIX = ".png"


def read_meta(root: Path) -> dict:
    return json.loads((Path(root) / META_FILE).read_text())


def write_meta(root: Path, corpus: str, synthetic: bool) -> None:
    if corpus not in CORPORA:
        raise ValueError(f"corpus {corpus!r}: not one of {', '.join(CORPORA)}")
    meta = {"format_version": FORMAT_VERSION, "corpus": corpus, "synthetic": synthetic}
    (Path(root) / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def wav_files(root: Path, corpus: str) -> list[Path]:
    root = Path(root)
    if corpus == CREMA_D:
        return sorted((root / CREMA_DIR).glob("*.wav"))
    return sorted(path for folder in sorted(root.glob(RAVDESS_GLOB)) for path in folder.glob("*.wav"))


def clip_table(root: Path, corpus: str) -> pd.DataFrame:
    """One row per WAV of the corpus layout: ``clip`` (its stem), ``path`` relative to the root and
    what its name says (``name_ok`` False and nulls when it breaks the convention)."""
    rows = []
    for path in wav_files(root, corpus):
        name = parse(corpus, path.stem)
        row = {"clip": path.stem, "path": str(path.relative_to(root)), "name_ok": name is not None}
        if name is not None:
            row.update(
                actor=name.actor,
                code=name.code,
                emotion=name.emotion,
                intensity=name.intensity,
                channel=name.channel,
                gender=gender(corpus, name.actor),
            )
        rows.append(row)
    columns = ["clip", "path", "name_ok", "actor", "code", "emotion", "intensity", "channel", "gender"]
    table = pd.DataFrame(rows, columns=columns)
    for column in columns:
        if column != "name_ok":
            table[column] = table[column].astype("string")
    return table


def image_table(root: Path) -> pd.DataFrame:
    """One row per IFER image: ``emotion`` (its folder) and ``path`` relative to the root."""
    root = Path(root)
    rows = [
        {"emotion": folder.name, "path": str(path.relative_to(root))}
        for folder in sorted(p for p in (root / IFER_DIR).glob("*") if p.is_dir())
        for path in sorted(folder.glob(f"*{IMAGE_SUFFIX}"))
    ]
    return pd.DataFrame(rows, columns=["emotion", "path"]).astype("string")


def frame_path(root: Path, clip: str) -> Path:
    return Path(root) / FRAMES_DIR / f"{clip}{IMAGE_SUFFIX}"


def read_partitions(root: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(root) / PARTITIONS_FILE)


def write_partitions(root: Path, partitions: pd.DataFrame) -> Path:
    path = Path(root) / PARTITIONS_FILE
    partitions.astype({"actor": "string", "partition": "string"}).to_parquet(path, index=False)
    return path


def clips(root: Path) -> pd.DataFrame:
    """The clips table with each clip's ``partition`` (the family's training / evaluation table)."""
    meta = read_meta(root)
    table = clip_table(root, meta["corpus"])
    if not table["name_ok"].all():
        bad = table.loc[~table["name_ok"], "path"].tolist()[:3]
        raise ValueError(f"{root}: file names outside the {meta['corpus']} convention, e.g. {bad}")
    return table.merge(read_partitions(root), on="actor", how="left", validate="many_to_one")
