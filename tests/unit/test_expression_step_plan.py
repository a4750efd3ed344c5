"""The DDP step plan: every rank takes as many steps, and the ranks together train on every segment
once per epoch, in the batches one process with ``world`` times the batch size would use."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from models.expression.segments import segment_starts
from models.expression.step_plan import lstm_steps, transformer_steps

pytestmark = pytest.mark.unit

VIDEOS = pd.DataFrame({"video_id": [f"v{k}" for k in range(7)], "n_frames": [40, 100, 17, 64, 90, 33, 50]})
LENGTH = 16


def _all_segments() -> list[tuple[str, int, int]]:
    return [
        (v, int(s), min(int(s) + LENGTH, n))
        for v, n in VIDEOS.itertuples(index=False)
        for s in segment_starts(n, LENGTH, LENGTH)
    ]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_transformer_ranks_split_each_global_batch(world: int) -> None:
    order = _all_segments()  # 29 segments: the last global batch is ragged for every world here
    plans = [transformer_steps(order, 4, rank, world) for rank in range(world)]
    assert len({len(plan) for plan in plans}) == 1  # the same number of steps on every rank
    for step in range(len(plans[0])):
        union = [s for plan in plans for s in plan[step] or []]
        assert union == order[step * 4 * world : (step + 1) * 4 * world]  # one process's batch
    # the ragged last batch (5 segments) leaves the last rank fewer segments, or a zero-weight step
    last = {2: [4, 1], 3: [4, 1, None]}.get(world)
    if last:
        assert [len(plan[-1]) if plan[-1] else None for plan in plans] == last


@pytest.mark.parametrize("world", [1, 2, 3])
def test_lstm_ranks_walk_their_videos_segment_by_segment(world: int) -> None:
    plans = [lstm_steps(VIDEOS, 2, LENGTH, rank, world) for rank in range(world)]
    assert len({len(plan) for plan in plans}) == 1
    used: Counter = Counter()
    for group in range(len(plans[0])):
        assert len({len(plan[group]) for plan in plans}) == 1  # steps per group agree across ranks
        for plan in plans:
            running: list[str] | None = None
            for k, step in enumerate(plan[group]):
                if step is None:
                    running = []
                    continue
                videos = [video for video, _, _ in step]
                # the videos still running are a prefix of the previous step's (the state is sliced)
                assert running is None or videos == running[: len(videos)]
                running = videos
                for video, start, stop in step:
                    assert start == k * LENGTH  # segment k at step k (Eq. 2)
                    used[(video, start, stop)] += 1
    assert sorted(used) == sorted(_all_segments()) and set(used.values()) == {1}
    if world == 2:
        # ragged: some rank runs out of segments before its group ends
        assert any(step is None for plan in plans for group in plan for step in group)
