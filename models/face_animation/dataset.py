"""The face-animation dataset formats: VoxCeleb2's layout (paper §4.1) and LRW's, with the paper's
preprocessing output (3D landmarks per video frame, §3.1) beside each clip.

A VoxCeleb2-layout dataset is a directory::

    dataset.json                                  format version, fps, sample rate, frame size, provenance
    utterances.parquet                            one row per utterance (UTTERANCE_COLUMNS)
    {dev,test}/mp4/id#####/<video>/#####.mp4      the face video (VoxCeleb2's own tree)
    {dev,test}/wav/id#####/<video>/#####.wav      its audio, 16 kHz mono
    {dev,test}/landmarks/id#####/<video>/#####.npy  float32 [n_frames, 68, 3]: the 3D landmarks of
                                                  every frame (FAN's 68 points; NaN rows: no face)

VoxCeleb2 ships its audio as AAC ``.m4a`` under ``aac/``; this layout keeps VoxCeleb2's tree and ids
but stores the audio as WAV under ``wav/`` (choice: no AAC decoder ships offline here). Speakers are
VoxCeleb2's partitions: dev and test speakers are disjoint (5,994 / 118), so the fixed partitions
are ``dev`` (train) and ``test``.

The paper's training batch (§3.2) maps onto the tree as NOTES-wave2 §2.4: V_r and V_s are two
utterances under one ``<video>`` (one YouTube video), V_p an utterance of the same ``id#####``
under another ``<video>``.

LRW (``lipread_mp4/<WORD>/{train,val,test}/<WORD>_#####.{mp4,txt}``) has no speaker or video ids:
``lrw_utterances`` reads it into the same table with each clip its own video and speaker unknown,
so no V_s / V_p exist and only L_landmark can train on it (the paper says so in §4.3).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
META_FILE = "dataset.json"
UTTERANCES_FILE = "utterances.parquet"
PARTITIONS = ("dev", "test")  # VoxCeleb2's speaker-disjoint partitions; the paper tests on test
TEST_PARTITION = "test"
FPS = 25.0  # VoxCeleb2 and LRW videos (MakeItTalk pre-cleans to 25 fps / 16 kHz, NOTES §2.1)
SAMPLE_RATE = 16_000
N_LANDMARKS = 68
SPEAKER_PATTERN = re.compile(r"^id\d{5}$")
UTTERANCE_PATTERN = re.compile(r"^\d{5}$")

UTTERANCE_COLUMNS: dict[str, str] = {
    "utterance_key": "string",  # <speaker>/<video>/<utterance>: unique over the dataset
    "speaker_id": "string",  # id#####
    "video_id": "string",  # the YouTube id: utterances of one video share a scene (and here an emotion)
    "utterance_id": "string",  # #####
    "partition": "string",
    "emotion": "string",  # the planted emotion of a synthetic video; "unknown" for real data
    "n_frames": "int32",
    "duration_s": "float64",
}


def utterance_key(speaker: str, video: str, utterance: str) -> str:
    return f"{speaker}/{video}/{utterance}"


def video_path(root: Path, partition: str, key: str) -> Path:
    return Path(root) / partition / "mp4" / f"{key}.mp4"


def audio_path(root: Path, partition: str, key: str) -> Path:
    return Path(root) / partition / "wav" / f"{key}.wav"


def landmarks_path(root: Path, partition: str, key: str) -> Path:
    return Path(root) / partition / "landmarks" / f"{key}.npy"


def read_meta(root: Path) -> dict:
    return json.loads((Path(root) / META_FILE).read_text())


def write_meta(root: Path, meta: dict) -> None:
    (Path(root) / META_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2))


def read_utterances(root: Path) -> pd.DataFrame:
    path = Path(root) / UTTERANCES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a face-animation dataset (no {UTTERANCES_FILE})")
    return pd.read_parquet(path)


def write_utterances(root: Path, table: pd.DataFrame) -> None:
    typed = pd.DataFrame({name: table[name].astype(dtype) for name, dtype in UTTERANCE_COLUMNS.items()})
    typed.to_parquet(Path(root) / UTTERANCES_FILE, index=False)


def read_landmarks(root: Path, partition: str, key: str) -> np.ndarray:
    """float32 [n_frames, 68, 3] of one utterance; ValueError naming the file when it is malformed."""
    path = landmarks_path(root, partition, key)
    array = np.load(path, allow_pickle=False)
    if array.ndim != 3 or array.shape[1:] != (N_LANDMARKS, 3):
        raise ValueError(f"{path}: landmarks must be [n_frames, 68, 3], got {array.shape}")
    return array.astype(np.float32)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sample rate (soundfile reads WAV / FLAC)."""
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return samples.mean(axis=1), int(rate)


def read_video(path: Path) -> np.ndarray:
    """uint8 RGB frames [n, H, W, 3] of a video file (OpenCV's FFmpeg backend)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path}: no decodable video frames")
    return np.stack(frames)


def triplets(utterances: pd.DataFrame, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """The paper's (V_r, V_s, V_p) batches (§3.2) over ``utterances``: every utterance once as V_r, V_s
    another utterance of its video, V_p an utterance of the same speaker in another video.
    Utterances whose video has no second utterance or whose speaker has no second video are skipped."""
    out = []
    by_video = utterances.groupby("video_id")["utterance_key"].apply(list).to_dict()
    videos_of = utterances.groupby("speaker_id")["video_id"].apply(lambda v: sorted(set(v))).to_dict()
    for key, video, speaker in utterances[["utterance_key", "video_id", "speaker_id"]].itertuples(
        index=False
    ):
        same_video = [k for k in by_video[video] if k != key]
        other_videos = [v for v in videos_of.get(speaker, []) if v != video]
        if not same_video or not other_videos or pd.isna(speaker):
            continue
        positive = same_video[rng.integers(len(same_video))]
        other = by_video[other_videos[rng.integers(len(other_videos))]]
        out.append((key, positive, other[rng.integers(len(other))]))
    return out


LRW_SPLITS = ("train", "val", "test")


def lrw_utterances(root: Path) -> pd.DataFrame:
    """LRW's ``lipread_mp4/<WORD>/<split>/<WORD>_#####.mp4`` as utterance rows (``root`` holds
    ``lipread_mp4``). Each clip is its own video with no known speaker; ``partition`` is LRW's split."""
    rows = []
    for path in sorted(Path(root).glob("lipread_mp4/*/*/*.mp4")):
        word, split = path.parent.parent.name, path.parent.name
        if split not in LRW_SPLITS or not path.stem.startswith(f"{word}_"):
            raise ValueError(
                f"{path}: not in LRW's layout lipread_mp4/<WORD>/{{train,val,test}}/<WORD>_#####"
            )
        rows.append(
            {
                "utterance_key": f"{word}/{split}/{path.stem}",
                "speaker_id": pd.NA,  # LRW has no speaker ids: no V_p, no L_identity
                "video_id": path.stem,
                "utterance_id": path.stem.split("_")[-1],
                "partition": split,
                "emotion": "unknown",
                "word": word,
                "video_file": str(path),
                "transcript_file": str(path.with_suffix(".txt")),
            }
        )
    if not rows:
        raise FileNotFoundError(f"{root}: no LRW clips under lipread_mp4/<WORD>/<split>/")
    return pd.DataFrame(rows)


def voxceleb2_utterances(root: Path) -> pd.DataFrame:
    """The utterances of a raw VoxCeleb2 tree (``{dev,test}/mp4/id#####/<video>/#####.mp4``), before
    preprocessing: the rows a preprocessed dataset's ``utterances.parquet`` starts from."""
    rows = []
    for partition in PARTITIONS:
        for path in sorted((Path(root) / partition / "mp4").glob("*/*/*.mp4")):
            speaker, video, utterance = path.parent.parent.name, path.parent.name, path.stem
            if not SPEAKER_PATTERN.match(speaker) or not UTTERANCE_PATTERN.match(utterance):
                raise ValueError(
                    f"{path}: not in VoxCeleb2's layout {partition}/mp4/id#####/<video>/#####.mp4"
                )
            rows.append(
                {
                    "utterance_key": utterance_key(speaker, video, utterance),
                    "speaker_id": speaker,
                    "video_id": video,
                    "utterance_id": utterance,
                    "partition": partition,
                }
            )
    if not rows:
        raise FileNotFoundError(f"{root}: no VoxCeleb2 clips under {{dev,test}}/mp4/id#####/<video>/")
    return pd.DataFrame(rows)
