"""Segments of a split cohort as serving requests: what monitoring's reference data and demo traffic send.

A request is the segment and its session's anchor (paper §3.2, inference) plus the metadata the
platform passes through to the inference log and never to the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.hearing_loss.data import SegmentReader, load_split

Request = tuple[dict[str, Any], dict[str, np.ndarray]]  # (metadata, tensors)


def segment_requests(
    data: Path, rows: pd.DataFrame | None = None, *, pseudonym_prefix: str = ""
) -> Iterator[Request]:
    """(metadata, tensors) per segment of ``rows`` (default: every segment) of the split cohort ``data``.

    ``pseudonym_prefix`` keeps subjects of different cohorts apart in one inference log.
    """
    frame = load_split(data)
    rows = frame if rows is None else rows
    reader = SegmentReader(data, frame)

    def frames(row: int) -> np.ndarray:
        return reader.store.segment(reader.files[row], int(reader.offsets[row]), int(reader.lengths[row]))

    for row, segment in rows.iterrows():
        metadata = {
            "request_id": f"{pseudonym_prefix}{segment['segment_id']}",
            "subject_pseudonym": f"{pseudonym_prefix}{segment['subject_id']}",
            "age": int(segment["age"]),
            "gender": str(segment["gender"]),
            "noise_level": float(segment["noise_level_dba"]),
        }
        yield metadata, {"current": frames(int(row)), "anchor": frames(int(segment["anchor_index"]))}


def held_out_requests(data: Path, holdout_fold: int) -> Iterator[Request]:
    """The held-out fold's segments as requests (a version's monitoring reference)."""
    frame = load_split(data)
    rows = frame[frame["fold"] == holdout_fold]
    if rows.empty:
        raise ValueError(f"holdout_fold: fold {holdout_fold} of {data} has no segments")
    return segment_requests(data, rows)
