"""Which segments each process trains on at each optimizer step, alone or under DDP.

DDP all-reduces gradients once per step, so every rank must take the same number of steps; a rank
with nothing left at a step runs a zero-weight step (``None`` in its plan). ``batch_size`` here is a
rank's share: one step consumes ``world * batch_size`` segments (Transformer) or videos (LSTM) of one
global order that every rank draws from the same seed, so a DDP run sees the batches one process
sees with the global batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from models.expression.data import batches
from models.expression.segments import segment_starts

Segment = tuple[str, int, int]  # (video, start, stop)
Step = list[Segment] | None  # None: this rank has nothing at this step (a zero-weight step)


def transformer_steps(order: Sequence[Segment], batch_size: int, rank: int, world: int) -> list[Step]:
    """Global batches of ``world * batch_size`` segments of ``order``, this rank's slice of each;
    a ragged last batch leaves the last ranks fewer segments or none."""
    plan: list[Step] = []
    for chosen in batches(list(order), world * batch_size):
        mine = list(chosen[rank * batch_size : (rank + 1) * batch_size])
        plan.append(mine or None)
    return plan


def lstm_steps(
    videos: pd.DataFrame, batch_size: int, segment_length: int, rank: int, world: int
) -> list[list[Step]]:
    """Paper Eq. 2 under DDP: groups of ``world * batch_size`` videos (in ``videos``' order), longest
    first; rank r takes every world-th video from r. Per group, one list of steps: at step k every
    video still running contributes its segment k, and the group takes as many steps as its longest
    video has segments. Within a rank, the videos running at step k are a prefix of its videos (so
    the carried LSTM state is sliced, not gathered)."""
    groups = []
    for group in batches(videos, world * batch_size):
        group = group.sort_values("n_frames", ascending=False, kind="stable")
        lengths = [(video, int(n)) for video, n in group[["video_id", "n_frames"]].itertuples(index=False)]
        starts = [segment_starts(n, segment_length, segment_length) for _, n in lengths]
        mine = [(lengths[i], starts[i]) for i in range(rank, len(lengths), world)]
        steps: list[Step] = []
        for k in range(len(starts[0])):
            active = [
                (video, int(s[k]), min(int(s[k]) + segment_length, n)) for (video, n), s in mine if k < len(s)
            ]
            steps.append(active or None)
        groups.append(steps)
    return groups
