"""Held-out videos as serving requests: a registered version's monitoring reference.

A request is what a client sends the served model (models/expression/schema.py): one float32
``[T, dim]`` sequence per feature, visual rows already completed by the nearest face frame (§3.1),
at most ``MAX_FRAMES`` frames; a longer video becomes consecutive requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from models.common.folds import select_folds
from models.contract import Request
from models.expression.data import load_split
from models.expression.dataset import VideoStore, read_meta
from models.expression.schema import MAX_FRAMES


def video_requests(data: Path, video_id: str, n_frames: int, subject_id: str) -> Iterator[Request]:
    """One video of the dataset ``data`` as requests of every feature it has, ``MAX_FRAMES`` at most each."""
    stores = {name: VideoStore(data, (name,)) for name in read_meta(data)["features"]}
    for start in range(0, n_frames, MAX_FRAMES):
        stop = min(start + MAX_FRAMES, n_frames)
        yield Request(
            request_id=video_id if stop - start == n_frames else f"{video_id}:{start}",
            unit=subject_id,
            tensors={name: store.window(video_id, start, stop) for name, store in stores.items()},
            metadata={"video_id": video_id},
        )


def held_out_requests(data: Path, holdout: int) -> Iterator[Request]:
    """The held-out fold's videos as requests (the family's ``held_out_requests``); an unknown fold
    raises here, not at the first request."""
    videos = select_folds(load_split(Path(data)), holdout, train=False)
    rows = videos[["video_id", "n_frames", "subject_id"]].itertuples(index=False)
    return (request for v, n, s in rows for request in video_requests(Path(data), v, int(n), s))
