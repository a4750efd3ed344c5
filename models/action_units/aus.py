"""Action units, their landmark-defined regions and the published 3-fold subject splits.

AU centres follow EAC-Net's rules as JAA-Net writes them for 68 iBUG landmarks (NOTES-wave2 §1.1):
every AU has two centres, a landmark each with a vertical offset in units of the inner-eye-corner
distance r = |x39 - x42| (image y points down). The fold lists are JAA-Net's / ME-GraphAU's (§1.6).
"""

from __future__ import annotations

import numpy as np

# paper §3.1: K = 12 on BP4D, 8 on DISFA (NOTES §1.6)
BP4D_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
DISFA_AUS = (1, 2, 4, 6, 9, 12, 25, 26)
DISFA_CODED_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)  # what DISFA's label files hold
LAYOUT_AUS = {"bp4d": BP4D_AUS, "disfa": DISFA_AUS}
ALL_AUS = tuple(sorted(set(BP4D_AUS) | set(DISFA_AUS)))

# AU -> ((left landmark, right landmark), vertical offset in units of r); NOTES §1.1 (JAA assignment)
CENTRES: dict[int, tuple[tuple[int, int], float]] = {
    1: ((21, 22), -1 / 2),
    2: ((18, 25), -1 / 3),
    4: ((19, 24), 1 / 3),
    6: ((41, 46), 1.0),
    7: ((38, 43), 0.0),
    9: ((32, 34), -1 / 2),
    10: ((61, 63), 0.0),
    12: ((48, 54), 0.0),
    14: ((48, 54), 0.0),
    15: ((48, 54), 0.0),
    17: ((56, 58), 1 / 2),
    23: ((51, 57), 0.0),
    24: ((51, 57), 0.0),
    25: ((51, 57), 0.0),
    26: ((56, 58), 1 / 2),
}

# NOTES §1.6: the 3 subject-independent parts; each fold tests on one part and trains on the others
_PARTS_TEXT = {
    "bp4d": (
        "F001 M007 F018 F008 F002 M004 F010 F009 M012 M001 F016 M014 F023 M008",
        "M011 F003 M010 M002 F005 F022 M018 M017 F013 M016 F020 F011 M013 M005",
        "F007 F015 F006 F019 M006 M009 F012 M003 F004 F021 F017 M015 F014",
    ),
    "disfa": (
        "SN002 SN010 SN001 SN026 SN027 SN032 SN030 SN009 SN016",
        "SN013 SN018 SN011 SN028 SN012 SN006 SN031 SN021 SN024",
        "SN003 SN029 SN023 SN025 SN008 SN005 SN007 SN017 SN004",
    ),
}
LAYOUT_PARTS: dict[str, tuple[tuple[str, ...], ...]] = {
    layout: tuple(tuple(part.split(" ")) for part in parts) for layout, parts in _PARTS_TEXT.items()
}
N_FOLDS = 3


def published_fold(layout: str) -> dict[str, int]:
    """Subject id -> its fold (0-2) in the published split of ``layout``."""
    return {subject: fold for fold, part in enumerate(LAYOUT_PARTS[layout]) for subject in part}


def au_columns(aus: tuple[int, ...]) -> list[str]:
    return [f"au{au}" for au in aus]


def centres(landmarks: np.ndarray, aus: tuple[int, ...]) -> np.ndarray:
    """``landmarks`` [..., 68, 2] (x, y) -> the AUs' centres [..., K, 2, 2] (AU, left/right, x/y)."""
    points = np.asarray(landmarks, dtype=np.float64)
    r = np.abs(points[..., 39, 0] - points[..., 42, 0])  # the inner-eye-corner distance
    out = np.empty((*points.shape[:-2], len(aus), 2, 2))
    for k, au in enumerate(aus):
        (left, right), dy = CENTRES[au]
        for side, index in enumerate((left, right)):
            out[..., k, side, 0] = points[..., index, 0]
            out[..., k, side, 1] = points[..., index, 1] + dy * r
    return out
