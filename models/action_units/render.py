"""Synthetic faces drawn from 68 iBUG landmarks, with action units as local, landmark-driven changes
(labelled synthetic; the AU detector's generator uses it, any family needing expressive faces can).

A face is a mean 68-point shape (``TEMPLATE``, unit square, iBUG order) given a subject's identity
(face proportions, skin, brows, background), moved by each active AU's landmark displacements
(``MOTIONS``, in the direction FACS describes the muscle's action) and drawn with OpenCV: skin, brows,
eyes, nose, lips and the open mouth. Each AU also leaves an AU-specific texture (a Gabor-like wrinkle
pattern of its own orientation and period, ``texture_of``) at its two EAC-Net centres, so an AU's
evidence is local to the region its rule defines and AUs that share a region stay distinguishable.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.action_units.aus import centres


def _template() -> np.ndarray:
    t = np.linspace(np.pi, 0.0, 17)
    jaw = np.stack([0.5 + 0.4 * np.cos(t), 0.42 + 0.52 * np.sin(t)], axis=1)
    brow_r = [(0.18, 0.31), (0.24, 0.285), (0.31, 0.28), (0.38, 0.29), (0.44, 0.305)]
    brow_l = [(1 - x, y) for x, y in reversed(brow_r)]
    nose = [(0.5, 0.37), (0.5, 0.44), (0.5, 0.51), (0.5, 0.58)]
    nose += [(0.42, 0.62), (0.46, 0.635), (0.5, 0.645), (0.54, 0.635), (0.58, 0.62)]
    eye_r = [(0.26, 0.40), (0.30, 0.38), (0.34, 0.38), (0.38, 0.40), (0.34, 0.42), (0.30, 0.42)]
    eye_l = [(0.62, 0.40), (0.66, 0.38), (0.70, 0.38), (0.74, 0.40), (0.70, 0.42), (0.66, 0.42)]
    outer = [(0.38, 0.76), (0.42, 0.735), (0.46, 0.72), (0.5, 0.725), (0.54, 0.72), (0.58, 0.735)]
    outer += [(0.62, 0.76), (0.58, 0.79), (0.54, 0.805), (0.5, 0.81), (0.46, 0.805), (0.42, 0.79)]
    inner = [(0.40, 0.76), (0.46, 0.752), (0.5, 0.754), (0.54, 0.752), (0.60, 0.76)]
    inner += [(0.54, 0.765), (0.5, 0.767), (0.46, 0.765)]
    points = np.concatenate([jaw, np.array(brow_r + brow_l + nose + eye_r + eye_l + outer + inner)])
    assert points.shape == (68, 2)
    return points


TEMPLATE = _template()
_CORNERS_L, _CORNERS_R = [48, 60], [54, 64]
_LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
# AU -> (landmarks, dx, dy) per unit intensity, in template units (y down); FACS's direction of action
MOTIONS: dict[int, list[tuple[list[int], float, float]]] = {
    1: [([20, 21, 22, 23], 0.0, -0.035)],  # inner brow raiser
    2: [([17, 18, 25, 26], 0.0, -0.035)],  # outer brow raiser
    4: [([19, 20, 21, 22, 23, 24], 0.0, 0.02), ([21], 0.012, 0.0), ([22], -0.012, 0.0)],  # brow lowerer
    6: [([40, 41, 46, 47], 0.0, -0.012), ([48, 54], 0.0, -0.006)],  # cheek raiser
    7: [([37, 38, 43, 44], 0.0, 0.009), ([40, 41, 46, 47], 0.0, -0.007)],  # lid tightener
    9: [([31, 32, 33, 34, 35], 0.0, -0.015), ([29, 30], 0.0, -0.01)],  # nose wrinkler
    10: [([49, 50, 51, 52, 53, 61, 62, 63], 0.0, -0.02)],  # upper lip raiser
    12: [(_CORNERS_L, -0.02, -0.025), (_CORNERS_R, 0.02, -0.025)],  # lip corner puller
    14: [(_CORNERS_L, 0.012, 0.0), (_CORNERS_R, -0.012, 0.0)],  # dimpler
    15: [(_CORNERS_L, 0.0, 0.025), (_CORNERS_R, 0.0, 0.025)],  # lip corner depressor
    17: [(_LOWER_LIP, 0.0, -0.015), ([7, 8, 9], 0.0, -0.015)],  # chin raiser
    23: [(_CORNERS_L, 0.015, 0.0), (_CORNERS_R, -0.015, 0.0), ([50, 51, 52], 0.0, 0.006)],  # lip tightener
    24: [([50, 51, 52, 61, 62, 63], 0.0, 0.01), ([56, 57, 58], 0.0, -0.01)],  # lip pressor
    25: [([65, 66, 67, 55, 56, 57, 58, 59], 0.0, 0.02)],  # lips part
    26: [(_LOWER_LIP, 0.0, 0.04), ([5, 6, 7, 8, 9, 10, 11], 0.0, 0.03)],  # jaw drop
}


# AU -> (orientation in units of pi, period in units of r): AUs that share centres (12/14/15 at the
# mouth corners, 23/24/25 at the lip centres, 17/26 below the lip) get orientations far apart; AU2, just
# above the brows, is not horizontal (the brows' own edges would read as its texture)
TEXTURES: dict[int, tuple[float, float]] = {
    1: (0.0, 0.3),
    2: (0.75, 0.3),
    4: (0.25, 0.3),
    6: (0.75, 0.3),
    7: (0.5, 0.25),
    9: (0.0, 0.25),
    10: (0.75, 0.25),
    12: (0.0, 0.3),
    14: (1 / 3, 0.3),
    15: (2 / 3, 0.3),
    17: (0.25, 0.3),
    23: (1 / 6, 0.25),
    24: (0.5, 0.25),
    25: (5 / 6, 0.25),
    26: (0.75, 0.3),
}


def texture_of(au: int) -> tuple[float, float]:
    """The AU's wrinkle texture: (orientation in radians, period in units of r)."""
    turn, period = TEXTURES[au]
    return turn * np.pi, period


@dataclass(frozen=True)
class Identity:
    """What stays fixed for one synthetic subject."""

    shape: np.ndarray  # [68, 2] the subject's neutral landmarks (template units)
    skin: tuple[float, float, float]  # BGR
    brow: tuple[float, float, float]
    lips: tuple[float, float, float]
    background: tuple[float, float, float]


def identity(rng: np.random.Generator) -> Identity:
    shape = TEMPLATE.copy()
    shape[:, 0] = 0.5 + (shape[:, 0] - 0.5) * rng.uniform(0.9, 1.05)  # face width
    shape[:, 1] = 0.5 + (shape[:, 1] - 0.5) * rng.uniform(0.93, 1.03)  # face height
    shape[36:48, 0] += np.where(shape[36:48, 0] < 0.5, -1, 1) * rng.uniform(-0.015, 0.015)  # eye spacing
    shape += rng.normal(0.0, 0.005, shape.shape)
    tone = rng.uniform(0.35, 0.9)
    skin = (150 * tone + 40, 170 * tone + 45, 200 * tone + 50)
    return Identity(
        shape=shape,
        skin=skin,
        brow=tuple(float(c) for c in rng.uniform(20, 90, 3)),
        lips=(skin[0] * 0.6, skin[1] * 0.55, min(255.0, skin[2] * 1.1)),
        background=tuple(float(c) for c in rng.uniform(40, 220, 3)),
    )


def move(shape: np.ndarray, activation: dict[int, float]) -> np.ndarray:
    """The landmarks of ``shape`` with each AU's motions applied at its intensity (0-1)."""
    out = shape.copy()
    for au, strength in activation.items():
        for points, dx, dy in MOTIONS[au]:
            out[points] += strength * np.array([dx, dy])
    return out


def _pose(points: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Small head motion (rotation, shift, scale), then template units -> pixels."""
    angle = np.deg2rad(rng.normal(0.0, 2.0))
    c, s = np.cos(angle), np.sin(angle)
    centred = (points - 0.5) @ np.array([[c, s], [-s, c]]) * rng.uniform(0.97, 1.03)
    return (centred + 0.5 + rng.normal(0.0, 0.012, 2)) * size


def render(
    who: Identity, activation: dict[int, float], rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One face: (uint8 RGB [size, size, 3], its 68 landmarks in pixels [68, 2])."""
    points = _pose(move(who.shape, activation), rng, size)
    canvas = np.empty((size, size, 3), dtype=np.float32)
    canvas[:] = who.background
    scale = 8  # cv2 draws on integer pixels: sub-pixel precision through shift bits
    fixed = lambda idx: np.round(points[idx] * scale).astype(np.int32)  # noqa: E731
    brow_top = points[17:27].copy()
    brow_top[:, 1] -= 0.12 * size
    cv2.fillPoly(canvas, [fixed(list(range(17)))], who.skin, cv2.LINE_AA, 3)
    cv2.fillPoly(
        canvas,
        [np.round(np.concatenate([points[[0]], brow_top, points[[16]]]) * scale).astype(np.int32)],
        who.skin,
        cv2.LINE_AA,
        3,
    )
    width = max(1, round(size / 45))
    for brow in (list(range(17, 22)), list(range(22, 27))):
        cv2.polylines(canvas, [fixed(brow)], False, who.brow, width + 1, cv2.LINE_AA, 3)
    for eye in (list(range(36, 42)), list(range(42, 48))):
        cv2.fillPoly(canvas, [fixed(eye)], (235, 235, 235), cv2.LINE_AA, 3)
        centre = points[eye].mean(axis=0)
        radius = max(1, round(0.25 * (points[eye[3], 0] - points[eye[0], 0])))
        cv2.circle(
            canvas,
            tuple(np.round(centre * scale).astype(int)),
            radius * scale,
            (40, 30, 20),
            -1,
            cv2.LINE_AA,
            3,
        )
        cv2.polylines(canvas, [fixed(eye)], True, (30, 30, 30), width, cv2.LINE_AA, 3)
    cv2.polylines(canvas, [fixed([27, 28, 29, 30])], False, np.array(who.skin) * 0.7, width, cv2.LINE_AA, 3)
    cv2.polylines(
        canvas, [fixed([31, 32, 33, 34, 35])], False, np.array(who.skin) * 0.6, width, cv2.LINE_AA, 3
    )
    cv2.fillPoly(canvas, [fixed(list(range(48, 60)))], who.lips, cv2.LINE_AA, 3)
    if points[66, 1] - points[62, 1] > 0.004 * size:  # the mouth is open
        cv2.fillPoly(canvas, [fixed(list(range(60, 68)))], (25, 20, 30), cv2.LINE_AA, 3)
    _wrinkles(canvas, points, activation)
    canvas += rng.normal(0.0, 3.0, canvas.shape)
    rgb = np.clip(canvas, 0, 255).astype(np.uint8)[..., ::-1].copy()  # drawn as BGR
    return rgb, points.astype(np.float32)


def _wrinkles(canvas: np.ndarray, points: np.ndarray, activation: dict[int, float]) -> None:
    """Each active AU's texture at its centres: a Gabor patch, envelope sigma r/4, amplitude by intensity."""
    size = canvas.shape[0]
    r = abs(points[39, 0] - points[42, 0])
    y, x = np.mgrid[0:size, 0:size] + 0.5
    aus = tuple(activation)
    if not aus:
        return
    for au, pair in zip(aus, centres(points, aus), strict=True):
        theta, period = texture_of(au)
        for cx, cy in pair:
            dx, dy = x - cx, y - cy
            envelope = np.exp(-(dx**2 + dy**2) / (2 * (r / 4) ** 2))
            wave = np.cos(2 * np.pi * (dx * np.cos(theta) + dy * np.sin(theta)) / (period * r))
            canvas += (45.0 * activation[au] * envelope * wave)[..., None]
