"""What a valid audio-emotion dataset looks like: named tables plus declarative expectations.

``tables(root)`` reads the dataset (format: ``dataset.py``) into small pandas tables: the top-level
files, one row per WAV (its name's fields, readability, rate, length, loudness, partition), one per
IFER image, the partitions file, actors and classes. ``EXPECTATIONS`` are Great Expectations over
them, run by ``components/validate.py``. A broken file becomes a value the matching expectation
reports (unreadable or silent WAVs, unknown emotion codes, speakers in two partitions).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from models.audio_emotion.corpus import CLASSES, CORPORA
from models.audio_emotion.dataset import (
    FORMAT_VERSION,
    LABELLED,
    META_FILE,
    PARTITIONS,
    PARTITIONS_FILE,
    clip_table,
    image_table,
)
from models.audio_emotion.spectrogram import AudioError, decode_wav
from models.common.expectations import expect, in_set, read_json_object, read_parquet

MIN_RATE, MAX_RATE = 8_000, 192_000  # Hz: telephone band to studio
MIN_SECONDS, MAX_SECONDS = 0.3, 30.0  # a spoken sentence; the corpora's clips are 1-6 s
SILENCE_DBFS = -50.0  # RMS level under which a clip counts as silent
MIN_IMAGE_SIDE = 16

ID_COLUMNS: dict[str, list[str]] = {
    "meta": [],
    "clips": ["clip"],
    "images": ["path"],
    "partitions_file": ["actor"],
    "actors": ["actor"],
    "classes": ["emotion"],
    "partition_sizes": ["partition"],
}


def _audio_stats(path: Path) -> dict:
    try:
        audio = decode_wav(str(path))
    except AudioError:
        return {"readable": False}
    samples = audio.samples.astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
    return {
        "readable": True,
        "sample_rate": audio.sample_rate,
        "seconds": audio.seconds,
        "rms_dbfs": 20 * np.log10(max(rms, 1e-10)),
        "finite": bool(np.isfinite(samples).all()),
    }


def _image_stats(path: Path) -> dict:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return {"readable": False}
    return {"readable": True, "min_side": int(min(image.shape))}


def tables(root: Path) -> dict[str, pd.DataFrame]:
    root = Path(root)
    meta_path = root / META_FILE
    meta = read_json_object(meta_path) if meta_path.exists() else {}
    corpus = meta.get("corpus")
    out = {
        "meta": pd.DataFrame(
            [
                {
                    "meta_exists": meta_path.exists(),
                    "format_version": meta.get("format_version"),
                    "corpus": corpus,
                    "partitions_exists": (root / PARTITIONS_FILE).exists(),
                }
            ]
        )
    }
    if corpus not in CORPORA:
        return out
    classes = list(CLASSES[corpus])
    partitions = read_parquet(root / PARTITIONS_FILE)
    clips = clip_table(root, corpus)
    stats = pd.DataFrame([_audio_stats(root / path) for path in clips["path"]], index=clips.index)
    clips = pd.concat(
        [
            clips,
            stats.reindex(columns=["readable", "sample_rate", "seconds", "rms_dbfs", "finite"]),
        ],
        axis=1,
    )
    clips["emotion_known"] = clips["emotion"].isin(classes)
    if {"actor", "partition"} <= set(partitions):
        first = partitions.drop_duplicates("actor")[["actor", "partition"]]
        clips = clips.merge(first, on="actor", how="left")
    else:
        clips["partition"] = pd.Series([None] * len(clips), dtype="string")
    images = image_table(root)
    image_stats = pd.DataFrame([_image_stats(root / path) for path in images["path"]], index=images.index)
    images = pd.concat([images, image_stats.reindex(columns=["readable", "min_side"])], axis=1)
    actors = pd.DataFrame({"actor": pd.Series(sorted(clips["actor"].dropna().unique()), dtype="string")})
    if {"actor", "partition"} <= set(partitions):
        per_actor = partitions.groupby("actor")["partition"].nunique()
        actors["n_partitions"] = actors["actor"].map(per_actor).fillna(0).astype("int64")
    labelled = clips[clips["partition"].isin(LABELLED)]
    out.update(
        clips=clips,
        images=images,
        partitions_file=partitions,
        actors=actors,
        classes=pd.DataFrame(
            {
                "emotion": classes,
                "labelled_clips": [int((labelled["emotion"] == k).sum()) for k in classes],
                "images": [int((images["emotion"] == k).sum()) for k in classes],
            }
        ),
        partition_sizes=pd.DataFrame(
            {
                "partition": list(PARTITIONS),
                "clips": [int((clips["partition"] == p).sum()) for p in PARTITIONS],
            }
        ),
    )
    return out


ALL_CLASSES = sorted({name for names in CLASSES.values() for name in names})  # one set for both corpora


EXPECTATIONS: list[dict] = [
    in_set("meta", "meta_exists", [True], f"{META_FILE} exists"),
    in_set(
        "meta", "format_version", [FORMAT_VERSION], "the dataset is in the format version this code reads"
    ),
    in_set("meta", "corpus", list(CORPORA), "dataset.json names a corpus layout this code reads"),
    in_set("meta", "partitions_exists", [True], f"{PARTITIONS_FILE} assigns speakers to S1-S4 (split.py)"),
    expect("clips", "ExpectTableRowCountToBeBetween", "the corpus layout holds WAV clips", min_value=1),
    in_set("clips", "name_ok", [True], "a clip's file name follows its corpus's convention (corpus.py)"),
    in_set("clips", "emotion_known", [True], "a clip's emotion code is one its corpus defines"),
    in_set("clips", "readable", [True], "every clip is a readable WAV file"),
    in_set("clips", "finite", [True], "samples are finite"),
    expect(
        "clips",
        "ExpectColumnValuesToBeBetween",
        f"sample rate within {MIN_RATE}-{MAX_RATE} Hz",
        column="sample_rate",
        min_value=MIN_RATE,
        max_value=MAX_RATE,
    ),
    expect(
        "clips",
        "ExpectColumnValuesToBeBetween",
        f"a clip lasts {MIN_SECONDS}-{MAX_SECONDS} s",
        column="seconds",
        min_value=MIN_SECONDS,
        max_value=MAX_SECONDS,
    ),
    expect(
        "clips",
        "ExpectColumnValuesToBeBetween",
        f"a clip is not silent (RMS above {SILENCE_DBFS} dBFS)",
        column="rms_dbfs",
        min_value=SILENCE_DBFS,
    ),
    in_set("clips", "partition", list(PARTITIONS), "every clip's speaker is in one of S1-S4"),
    expect("images", "ExpectTableRowCountToBeBetween", "the IFER folder holds face images", min_value=1),
    in_set("images", "readable", [True], "every IFER image is a readable image file"),
    expect(
        "images",
        "ExpectColumnValuesToBeBetween",
        f"an IFER image is at least {MIN_IMAGE_SIDE} pixels a side",
        column="min_side",
        min_value=MIN_IMAGE_SIDE,
    ),
    in_set("images", "emotion", ALL_CLASSES, "IFER folders are named by emotion"),
    in_set("partitions_file", "partition", list(PARTITIONS), "partitions are S1-S4"),
    expect("partitions_file", "ExpectColumnValuesToBeUnique", "an actor is listed once", column="actor"),
    expect(
        "actors",
        "ExpectColumnValuesToBeBetween",
        "a speaker is in exactly one partition (speaker-disjoint S1-S4)",
        column="n_partitions",
        min_value=1,
        max_value=1,
    ),
    expect(
        "classes",
        "ExpectColumnValuesToBeBetween",
        "every class has labelled clips in S1 (the classifier's D_t)",
        column="labelled_clips",
        min_value=1,
    ),
    expect(
        "classes",
        "ExpectColumnValuesToBeBetween",
        "every class has IFER images to translate (the source domain D_s)",
        column="images",
        min_value=1,
    ),
    expect(
        "partition_sizes",
        "ExpectColumnValuesToBeBetween",
        "each of S1-S4 has clips",
        column="clips",
        min_value=1,
    ),
]
