"""Segment selection over a cohort manifest: anchors (paper §3.2) and VM triplets (§3.2.2).

Both return manifest index labels (with the RangeIndex of ``cohort.read_manifest`` these are
row positions), so callers look features up with ``manifest.loc``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

QUIET_DBA = 0  # paper §4.1: "no noise (quiet)"
_SESSION_KEYS = ["subject_id", "session_id"]


def anchor_index(manifest: pd.DataFrame) -> pd.Series:
    """Each segment's anchor: its session's first quiet segment by ``start_s`` (paper §3.2).

    The anchor is a session-level choice, so segments recorded before it share it too.
    Raises ValueError naming every subject/session without a quiet segment.
    """
    quiet = manifest[manifest["noise_level_dba"] == QUIET_DBA]
    # idxmin keeps the first row on ties, so the choice is stable
    first_quiet = quiet.groupby(_SESSION_KEYS, sort=False)["start_s"].idxmin()
    keys = pd.MultiIndex.from_frame(manifest[_SESSION_KEYS])
    anchors = first_quiet.reindex(keys)
    missing = anchors.isna().to_numpy()
    if missing.any():
        lacking = sorted({f"subject {s} (session {t})" for s, t in keys[missing]})
        raise ValueError(f"no quiet segment to anchor on for: {', '.join(lacking)}")
    return pd.Series(anchors.to_numpy().astype(np.int64), index=manifest.index, name="anchor_index")


def sample_triplets(
    manifest: pd.DataFrame, rng: np.random.Generator, n: int, noisy_levels: Sequence[int] = (75,)
) -> np.ndarray:
    """``n`` VM triplets ``[n, 3]`` of manifest index labels (s_n, s_q1, s_q2) (paper §3.2.2).

    All three come from one subject; s_n's level is in ``noisy_levels`` (Fig. 6: 75 dBA by
    default); s_q1 and s_q2 are distinct quiet segments. Subjects without one such noisy and
    two quiet segments are skipped. Choice (paper silent on the draw): the subject is uniform
    over eligible subjects, then each segment uniform within the subject, so long sessions do
    not dominate. Deterministic for the rng's state; independent of the manifest's row order.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    levels = {int(level) for level in noisy_levels}
    if not levels or QUIET_DBA in levels:
        raise ValueError(
            f"noisy_levels must be non-empty and exclude quiet ({QUIET_DBA}), got {noisy_levels}"
        )
    noise = manifest["noise_level_dba"].to_numpy()
    labels = manifest.index.to_numpy()
    pools: list[tuple[np.ndarray, np.ndarray]] = []
    for _, rows in sorted(manifest.groupby("subject_id", sort=False).indices.items()):
        # sorted labels: the draw then depends on the rng and the manifest's content, not its row order
        noisy = np.sort(labels[rows[np.isin(noise[rows], list(levels))]])
        quiet = np.sort(labels[rows[noise[rows] == QUIET_DBA]])
        if len(noisy) >= 1 and len(quiet) >= 2:
            pools.append((noisy, quiet))
    if not pools:
        raise ValueError(
            f"no subject has a segment at {sorted(levels)} dBA and two quiet segments to form a triplet"
        )
    out = np.empty((n, 3), dtype=np.int64)
    subject = rng.integers(len(pools), size=n)
    for i, (noisy, quiet) in enumerate(pools):
        at = np.flatnonzero(subject == i)
        k = len(at)
        q1 = rng.integers(len(quiet), size=k)
        # draw q2 from the other len-1 quiet segments: shift past q1 so q1 != q2 without rejection
        q2 = rng.integers(len(quiet) - 1, size=k)
        q2 = q2 + (q2 >= q1)
        out[at, 0] = noisy[rng.integers(len(noisy), size=k)]
        out[at, 1] = quiet[q1]
        out[at, 2] = quiet[q2]
    return out
