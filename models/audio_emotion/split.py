"""The S1-S4 partition: seeded, speaker-disjoint, gender-balanced where genders are known.

The paper follows Athanasiadis et al. 2019's four parts (S1 labelled, S2 + S3 unlabelled, S4 test)
but their split is not published (NOTES-wave2 §3.5). Choice, recorded as a deviation: actors are
shuffled with ``seed`` and dealt round-robin into S1-S4 (separately per gender when the corpus names
it), so every partition gets about a quarter of the speakers and no speaker is in two partitions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.audio_emotion.dataset import PARTITIONS, clip_table, read_meta, write_partitions


def assign(actors: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``actors`` (columns actor, gender) -> actor, partition."""
    rng = np.random.default_rng(seed)
    rows = []
    offset = 0
    for _, group in actors.fillna({"gender": ""}).groupby("gender", sort=True):
        order = rng.permutation(sorted(group["actor"]))
        rows += [(actor, PARTITIONS[(offset + k) % len(PARTITIONS)]) for k, actor in enumerate(order)]
        offset += len(order)  # the next gender continues the deal: partitions stay equal in size
    return pd.DataFrame(rows, columns=["actor", "partition"]).sort_values("actor", ignore_index=True)


def partition(root: Path, seed: int = 0) -> Path:
    """Write ``partitions.parquet`` for the dataset at ``root``; its path."""
    table = clip_table(root, read_meta(root)["corpus"]).dropna(subset=["actor"])
    if table["actor"].nunique() < len(PARTITIONS):
        raise ValueError(f"{root}: {table['actor'].nunique()} actors; S1-S4 need at least {len(PARTITIONS)}")
    actors = table.drop_duplicates("actor")[["actor", "gender"]]
    return write_partitions(root, assign(actors, seed))
