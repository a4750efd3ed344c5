"""Held-out clips as serving requests: a registered version's monitoring reference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from models.audio_emotion.data import load, spectrograms
from models.contract import Request


def held_out_requests(data: Path, holdout: str) -> Iterator[Request]:
    """The clips of partition ``holdout`` as requests, one per clip, by speaker; gender as metadata
    where the corpus names it. An unknown partition raises here, not at the first request."""
    table = load(Path(data))
    table = table[table["partition"] == holdout].reset_index(drop=True)
    if table.empty:
        raise ValueError(f"{data}: no clips in partition {holdout!r}")
    specs = spectrograms(Path(data), table)
    return (
        Request(
            request_id=row.clip,
            unit=row.actor,
            tensors={"spectrogram": spec},
            metadata={} if pd.isna(row.gender) else {"gender": str(row.gender)},
        )
        for row, spec in zip(table.itertuples(index=False), specs, strict=True)
    )
