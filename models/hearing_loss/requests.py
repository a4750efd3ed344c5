"""Segments of a split cohort as serving requests: what monitoring's reference data and demo traffic send.

A request is the segment and its session's anchor (paper §3.2, inference) plus the metadata the
platform passes through to the inference log and never to the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from models.contract import Request
from models.hearing_loss.data import SegmentReader, load_split


def segment_requests(
    data: Path, rows: pd.DataFrame | None = None, *, pseudonym_prefix: str = ""
) -> Iterator[Request]:
    """A request per segment of ``rows`` (default: every segment) of the split cohort ``data``.

    ``pseudonym_prefix`` keeps subjects of different cohorts apart in one inference log.
    """
    frame = load_split(data)
    rows = frame if rows is None else rows
    reader = SegmentReader(data, frame)

    def frames(row: int) -> np.ndarray:
        return reader.store.segment(reader.files[row], int(reader.offsets[row]), int(reader.lengths[row]))

    for row, segment in rows.iterrows():
        yield Request(
            request_id=f"{pseudonym_prefix}{segment['segment_id']}",
            unit=f"{pseudonym_prefix}{segment['subject_id']}",
            tensors={"current": frames(int(row)), "anchor": frames(int(segment["anchor_index"]))},
            metadata={
                "age": int(segment["age"]),
                "gender": str(segment["gender"]),
                "noise_level": float(segment["noise_level_dba"]),
            },
        )


def held_out_requests(data: Path, holdout: int) -> Iterator[Request]:
    """The held-out fold's segments as requests (a version's monitoring reference)."""
    frame = load_split(data)
    rows = frame[frame["fold"] == holdout]
    if rows.empty:
        raise ValueError(f"holdout: fold {holdout} of {data} has no segments")
    return segment_requests(data, rows)


def training_requests(data: Path, holdout: int) -> Iterator[Request]:
    """The other folds' segments as requests: the subjects a version trained on, whose inputs and
    demographics join its monitoring reference (16 held-out subjects of the demo's 80 leave every age
    group below the drift report's 10 subjects; all 80 do not)."""
    frame = load_split(data)
    if not (frame["fold"] == holdout).any():
        raise ValueError(f"holdout: fold {holdout} of {data} has no segments")
    return segment_requests(data, frame[frame["fold"] != holdout])
