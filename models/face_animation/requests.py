"""Held-out utterances as serving requests: a registered version's monitoring reference.

A request is what a client sends (models/face_animation/schema.py): the utterance's 16 kHz audio
(at most ``MAX_SAMPLES``; longer audio is cut), its first frame as the reference image and that
frame's landmarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from models.contract import Request
from models.face_animation.audio import resample
from models.face_animation.data import load_split, select
from models.face_animation.dataset import audio_path, read_audio, read_landmarks, read_video, video_path
from models.face_animation.schema import MAX_SAMPLES


def utterance_request(data: Path, row) -> Request:
    """One utterance row of ``data`` as a request."""
    samples, rate = read_audio(audio_path(data, row.partition, row.utterance_key))
    frame = read_video(video_path(data, row.partition, row.utterance_key))[0]
    marks = read_landmarks(data, row.partition, row.utterance_key)[0]
    return Request(
        request_id=row.utterance_key,
        unit=row.speaker_id,
        tensors={
            "audio": resample(samples, rate)[:MAX_SAMPLES],
            "reference_image": np.ascontiguousarray(frame.reshape(-1, 3)),
            "reference_landmarks": marks.astype(np.float32),
        },
    )


def held_out_requests(data: Path, holdout: str) -> Iterator[Request]:
    """The held-out partition's utterances as requests; an unknown partition raises here."""
    data = Path(data)
    table = select(load_split(data), holdout, train=False)
    return (utterance_request(data, row) for row in table.itertuples(index=False))
