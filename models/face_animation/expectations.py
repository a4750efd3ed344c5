"""What a valid face-animation dataset (VoxCeleb2 layout, dataset.py) looks like: named tables plus
declarative Great Expectations over them (``components/validate.py`` runs them).

Per utterance it checks the three files: audio present, decodable, 16 kHz, not silent; video present
and decodable; landmarks [n_frames, 68, 3] with a face in every frame; audio and video of one
length. Per speaker: one partition only (the partitions are speaker-disjoint), and for the paper's
batch (§3.2) at least two videos per dev speaker and two utterances per video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.common.expectations import column_schema, expect, in_set, read_json_object, read_parquet
from models.face_animation.dataset import (
    FORMAT_VERSION,
    META_FILE,
    N_LANDMARKS,
    PARTITIONS,
    SAMPLE_RATE,
    UTTERANCE_COLUMNS,
    UTTERANCES_FILE,
    audio_path,
    landmarks_path,
    video_path,
)

SILENCE_DB = -50.0  # an utterance whose RMS level stays below this has no speech
MAX_LENGTH_MISMATCH_FRAMES = 1  # audio and video may differ by one 40 ms frame (rounding)

ID_COLUMNS: dict[str, list[str]] = {
    "meta": [],
    "utterances": ["utterance_key"],
    "files": ["utterance_key"],
    "speakers": ["speaker_id"],
    "videos": ["video_id"],
}


def _audio(path: Path) -> dict:
    import soundfile

    out = {"audio_exists": path.is_file(), "audio_readable": None, "sample_rate": None, "audio_s": None}
    out["level_db"] = None
    if not path.is_file():
        return out
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # soundfile raises LibsndfileError (a RuntimeError) and others for a bad file
        out["audio_readable"] = False
        return out
    out.update(audio_readable=len(samples) > 0, sample_rate=int(rate), audio_s=len(samples) / rate)
    if len(samples):
        out["level_db"] = float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2) + 1e-12))
    return out


def _video(path: Path) -> dict:
    import cv2

    out = {"video_exists": path.is_file(), "video_readable": None, "video_frames": None, "video_fps": None}
    if not path.is_file():
        return out
    capture = cv2.VideoCapture(str(path))
    try:
        ok, _ = capture.read() if capture.isOpened() else (False, None)
        out["video_readable"] = bool(ok)
        if ok:
            out["video_frames"] = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            out["video_fps"] = float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return out


def _landmarks(path: Path) -> dict:
    out = {"landmarks_exists": path.is_file(), "landmarks_readable": None, "landmarks_shape_ok": None}
    out.update(landmark_frames=None, faceless_frames=None)
    if not path.is_file():
        return out
    try:
        array = np.load(path, allow_pickle=False)
    except Exception:  # truncated header, pickled object array, not an .npy at all
        out["landmarks_readable"] = False
        return out
    out["landmarks_readable"] = True
    shape_ok = array.ndim == 3 and array.shape[1:] == (N_LANDMARKS, 3) and array.dtype.kind == "f"
    out["landmarks_shape_ok"] = bool(shape_ok)
    if shape_ok:
        out["landmark_frames"] = len(array)
        out["faceless_frames"] = int((~np.isfinite(array).all(axis=(1, 2))).sum())  # a NaN frame: no face
    return out


def _files(root: Path, utterances: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for key, partition, n_frames in utterances[["utterance_key", "partition", "n_frames"]].itertuples(
        index=False
    ):
        partition = partition if partition in PARTITIONS else str(partition)
        row = {"utterance_key": key}
        row |= _audio(audio_path(root, partition, key))
        row |= _video(video_path(root, partition, key))
        row |= _landmarks(landmarks_path(root, partition, key))
        frames = row["video_frames"]
        row["landmarks_minus_frames"] = (
            None if frames is None or row["landmark_frames"] is None else row["landmark_frames"] - frames
        )
        row["manifest_minus_frames"] = None if frames is None or pd.isna(n_frames) else int(n_frames) - frames
        row["audio_minus_video_frames"] = (
            None
            if frames is None or row["audio_s"] is None or not row["video_fps"]
            else abs(row["audio_s"] * row["video_fps"] - frames)
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("sample_rate", "video_frames", "landmark_frames", "faceless_frames"):
        table[column] = table[column].astype("Int64")
    for column in ("landmarks_minus_frames", "manifest_minus_frames"):
        table[column] = table[column].astype("Int64")
    for column in ("audio_s", "level_db", "video_fps", "audio_minus_video_frames"):
        table[column] = table[column].astype("Float64")
    return table


def tables(root: Path) -> dict[str, pd.DataFrame]:
    root = Path(root)
    meta_path = root / META_FILE
    meta = read_json_object(meta_path) if meta_path.exists() else {}
    out = {
        "meta": pd.DataFrame(
            [
                {
                    "meta_exists": meta_path.exists(),
                    "utterances_exists": (root / UTTERANCES_FILE).exists(),
                    "format_version": meta.get("format_version"),
                }
            ]
        ),
        "utterances": read_parquet(root / UTTERANCES_FILE),
    }
    utterances = out["utterances"]
    if {"utterance_key", "partition", "n_frames"} <= set(utterances):
        out["files"] = _files(root, utterances.dropna(subset=["utterance_key", "partition"]))
    if {"speaker_id", "video_id", "partition"} <= set(utterances):
        grouped = utterances.groupby("speaker_id")
        out["speakers"] = pd.DataFrame(
            {
                "speaker_id": pd.Series(list(grouped.groups), dtype="string"),
                "n_partitions": grouped["partition"].nunique().to_numpy(),
                "n_videos": grouped["video_id"].nunique().to_numpy(),
            }
        )
        # the paper's batch needs a second video only where training draws from: dev speakers
        dev = grouped["partition"].agg(lambda p: bool((p == "dev").any())).to_numpy()
        out["speakers"]["n_dev_videos"] = pd.array(np.where(dev, out["speakers"]["n_videos"], -1), "Int64")
        out["speakers"].loc[~dev, "n_dev_videos"] = pd.NA
        per_video = utterances.groupby("video_id")["utterance_key"].nunique()
        out["videos"] = pd.DataFrame(
            {"video_id": pd.Series(per_video.index, dtype="string"), "n_utterances": per_video.to_numpy()}
        )
    return out


EXPECTATIONS: list[dict] = [
    in_set("meta", "meta_exists", [True], f"{META_FILE} exists"),
    in_set("meta", "utterances_exists", [True], f"{UTTERANCES_FILE} exists"),
    in_set(
        "meta", "format_version", [FORMAT_VERSION], "the dataset is in the format version this code reads"
    ),
    expect("utterances", "ExpectTableRowCountToBeBetween", "the dataset has utterances", min_value=1),
    *column_schema(
        "utterances",
        UTTERANCE_COLUMNS,
        file=UTTERANCES_FILE,
        declared_by="dataset.UTTERANCE_COLUMNS",
        row="utterance",
    ),
    expect("utterances", "ExpectColumnValuesToBeUnique", "utterance keys are unique", column="utterance_key"),
    in_set("utterances", "partition", list(PARTITIONS), "partition is VoxCeleb2's dev or test"),
    expect(
        "utterances",
        "ExpectColumnValuesToBeBetween",
        "an utterance has frames",
        column="n_frames",
        min_value=1,
    ),
    in_set("files", "audio_exists", [True], "every utterance has its wav/<speaker>/<video>/<utt>.wav"),
    in_set("files", "audio_readable", [True], "the audio decodes and has samples (not corrupt)"),
    in_set("files", "sample_rate", [SAMPLE_RATE], "audio is 16 kHz (MakeItTalk's pre-cleaning, NOTES §2.1)"),
    expect(
        "files",
        "ExpectColumnValuesToBeBetween",
        f"the audio is not silence (RMS above {SILENCE_DB} dB)",
        column="level_db",
        min_value=SILENCE_DB,
    ),
    in_set("files", "video_exists", [True], "every utterance has its mp4/<speaker>/<video>/<utt>.mp4"),
    in_set("files", "video_readable", [True], "the video decodes (not corrupt)"),
    in_set("files", "landmarks_exists", [True], "every utterance has its landmarks/<...>.npy (§3.1)"),
    in_set("files", "landmarks_readable", [True], "the landmarks file is a loadable .npy array"),
    in_set("files", "landmarks_shape_ok", [True], "landmarks are float [n_frames, 68, 3] (3D, §3.1)"),
    in_set("files", "faceless_frames", [0], "every frame has a detected face (no NaN landmark rows)"),
    in_set("files", "landmarks_minus_frames", [0], "one landmark row per video frame"),
    in_set("files", "manifest_minus_frames", [0], "n_frames in utterances.parquet is the video's"),
    expect(
        "files",
        "ExpectColumnValuesToBeBetween",
        f"audio and video have one length (within {MAX_LENGTH_MISMATCH_FRAMES} video frame)",
        column="audio_minus_video_frames",
        max_value=MAX_LENGTH_MISMATCH_FRAMES,
    ),
    expect(
        "speakers",
        "ExpectColumnValuesToBeBetween",
        "a speaker is in one partition only (speaker-disjoint dev / test)",
        column="n_partitions",
        max_value=1,
    ),
    expect(
        "speakers",
        "ExpectColumnValuesToBeBetween",
        "a dev speaker has two videos or more (V_p of the paper's batch, §3.2)",
        column="n_dev_videos",
        min_value=2,
    ),
    expect(
        "videos",
        "ExpectColumnValuesToBeBetween",
        "a video has two utterances or more (V_r and V_s of the paper's batch, §3.2)",
        column="n_utterances",
        min_value=2,
    ),
]
