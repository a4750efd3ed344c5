"""Held-out frames as serving requests: a registered version's monitoring reference.

A request is one frame's aligned crop and landmarks (``schema.py``); its unit is the subject and its
metadata the subject's gender (BP4D's ids start with F or M; DISFA's carry none: "unknown").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from models.action_units.data import load_split, read_images
from models.action_units.dataset import frame_landmarks, read_meta
from models.common.folds import select_folds
from models.contract import Request

CHUNK = 256


def gender_of(subject: str) -> str:
    return (
        {"F": "female", "M": "male"}.get(subject[:1], "unknown")
        if not subject.startswith("SN")
        else "unknown"
    )


def held_out_requests(data: Path, holdout: int) -> Iterator[Request]:
    """The held-out fold's frames as requests (the family's ``reference_requests``); an unknown fold
    raises here, not at the first request."""
    data = Path(data)
    frames = select_folds(load_split(data), holdout, train=False)
    size = int(read_meta(data)["image_size"])

    def generate() -> Iterator[Request]:
        for first in range(0, len(frames), CHUNK):
            chunk = frames.iloc[first : first + CHUNK]
            images, points = read_images(data, list(chunk["image"]), size), frame_landmarks(data, chunk)
            for i, row in enumerate(chunk.itertuples(index=False)):
                yield Request(
                    request_id=f"{row.sequence_id}:{row.frame}",
                    unit=str(row.subject_id),
                    tensors={"image": images[i], "landmarks": points[i]},
                    metadata={"gender": gender_of(str(row.subject_id))},
                )

    return generate()
