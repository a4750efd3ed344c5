"""Training and evaluation views of a dataset: the paper's preprocessing (§3.1) per utterance.

Each utterance becomes its audio features F_a (audio.py), one mel window per video frame, its
landmarks aligned by ICP onto the average face and projected to 2D, its landmarks in the image
(posed, for the landmark images the U-Net reads) and, on demand, its frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.face_animation.audio import frame_windows, mel_features, resample
from models.face_animation.dataset import (
    audio_path,
    read_audio,
    read_landmarks,
    read_meta,
    read_utterances,
    video_path,
)
from models.face_animation.landmarks import CANVAS, align


def load_split(root: Path) -> pd.DataFrame:
    """The utterance table (the partitions are fixed: nothing to split)."""
    return read_utterances(root)


def select(utterances: pd.DataFrame, holdout: str | None, train: bool) -> pd.DataFrame:
    """The training rows (every partition but ``holdout``) or the held-out rows."""
    if holdout is None:
        return utterances if train else utterances.iloc[:0]
    if holdout not in set(utterances["partition"]):
        raise ValueError(f"holdout {holdout!r}: the dataset has no utterances in that partition")
    keep = utterances["partition"] != holdout if train else utterances["partition"] == holdout
    return utterances[keep].reset_index(drop=True)


def _scale(root: Path) -> float:
    return CANVAS / float(read_meta(root)["frame_size"])


def mean_face(root: Path, utterances: pd.DataFrame) -> np.ndarray:
    """§3.1's average facial landmarks: float64 [68, 3], the mean over every frame of ``utterances``."""
    scale, total, count = _scale(root), np.zeros((68, 3)), 0
    for key, partition in utterances[["utterance_key", "partition"]].itertuples(index=False):
        landmarks = read_landmarks(root, partition, key).astype(np.float64) * scale
        total += landmarks.sum(axis=0)
        count += len(landmarks)
    return total / count


@dataclass
class Utterance:
    """One preprocessed utterance; landmarks in 256² pixels."""

    key: str
    speaker_id: str
    video_id: str
    partition: str
    emotion: str
    windows: np.ndarray  # float32 [T, WINDOW, 80]: F_a around each video frame
    aligned: np.ndarray  # float32 [T, 68, 2]: ICP-aligned, projected (the model's targets L_v)
    posed: np.ndarray  # float32 [T, 68, 2]: in the image (landmark images, frames)
    video: Path
    expression: np.ndarray | None = field(default=None)  # Eq. 5's e: the classifier's mean softmax

    @property
    def reference(self) -> np.ndarray:
        """L_0: the landmarks of the reference image, the utterance's first frame (choice)."""
        return self.aligned[0]


def preprocess_audio(samples: np.ndarray, rate: int, n_frames: int) -> np.ndarray:
    """Windows of F_a, one per video frame, for audio at ``rate``."""
    return frame_windows(mel_features(resample(samples, rate)), n_frames)


def load_utterances(root: Path, utterances: pd.DataFrame, face: np.ndarray) -> list[Utterance]:
    """``utterances`` of the dataset at ``root`` preprocessed, aligned onto the average ``face``."""
    root, scale = Path(root), _scale(root)
    out = []
    for row in utterances.itertuples(index=False):
        landmarks = read_landmarks(root, row.partition, row.utterance_key) * scale
        samples, rate = read_audio(audio_path(root, row.partition, row.utterance_key))
        n = len(landmarks)
        out.append(
            Utterance(
                key=row.utterance_key,
                speaker_id=row.speaker_id,
                video_id=row.video_id,
                partition=row.partition,
                emotion=row.emotion,
                windows=preprocess_audio(samples, rate, n),
                aligned=align(landmarks, face),
                posed=landmarks[:, :, :2].copy(),
                video=video_path(root, row.partition, row.utterance_key),
            )
        )
    return out
