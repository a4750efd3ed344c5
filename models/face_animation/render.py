"""Images drawn from 68 landmarks: the landmark images M_t the U-Net reads (paper §3.4, after LSP [16]),
and the synthetic generator's face frames (labelled synthetic where used)."""

from __future__ import annotations

import cv2
import numpy as np

from models.face_animation.landmarks import CANVAS

# NOTES §2.2: MakeItTalk's vis_landmark_on_img, one colour per part, cv2.line width 2
OPEN_CURVES = ((0, 17), (17, 22), (22, 27), (27, 31), (31, 36))
CLOSED_LOOPS = ((36, 42), (42, 48), (48, 60), (60, 68))
PART_COLOURS = (
    (200, 200, 60),  # jaw
    (60, 200, 60),  # brows
    (60, 200, 60),
    (60, 60, 220),  # nose
    (60, 60, 220),
    (220, 60, 220),  # eyes
    (220, 60, 220),
    (220, 60, 60),  # lips
    (220, 120, 60),
)


def _points(landmarks_2d: np.ndarray, size: int) -> np.ndarray:
    return np.round(np.asarray(landmarks_2d) * (size / CANVAS)).astype(np.int32)


def landmark_image(landmarks_2d: np.ndarray, size: int) -> np.ndarray:
    """M_t: uint8 RGB [size, size, 3] of ``landmarks_2d`` [68, 2] (256² coordinates), parts as lines
    of width 2 on black (choice: width 1 below 128 pixels, where 2 would merge the lips)."""
    image = np.zeros((size, size, 3), dtype=np.uint8)
    points = _points(landmarks_2d, size)
    width = 2 if size >= 128 else 1
    parts = [(a, b, False) for a, b in OPEN_CURVES] + [(a, b, True) for a, b in CLOSED_LOOPS]
    for (start, stop, closed), colour in zip(parts, PART_COLOURS, strict=True):
        cv2.polylines(image, [points[start:stop]], closed, colour, width, cv2.LINE_AA)
    return image


def face_frame(landmarks_2d: np.ndarray, size: int, skin: tuple, background: tuple) -> np.ndarray:
    """A synthetic face frame drawn from ``landmarks_2d``: skin, brows, eyes, nose, lips and the dark
    mouth opening between the inner lips, uint8 RGB [size, size, 3]."""
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = background
    points = _points(landmarks_2d, size)
    jaw = points[0:17]
    brow_top = points[17:27] - np.array([0, int(size * 0.09)])
    head = np.concatenate([jaw, brow_top[::-1]])
    cv2.fillPoly(image, [cv2.convexHull(head)], skin, cv2.LINE_AA)
    thick = max(1, size // 64)
    dark = tuple(int(c * 0.35) for c in skin)
    cv2.polylines(image, [points[17:22], points[22:27]], False, dark, thick + 1, cv2.LINE_AA)
    for eye in (points[36:42], points[42:48]):
        cv2.fillPoly(image, [eye], (245, 245, 245), cv2.LINE_AA)
        centre = eye.mean(axis=0).astype(np.int32)
        cv2.circle(image, tuple(int(v) for v in centre), max(1, size // 60), (40, 30, 20), -1, cv2.LINE_AA)
    cv2.polylines(image, [points[27:31], points[31:36]], False, dark, thick, cv2.LINE_AA)
    cv2.fillPoly(image, [points[48:60]], (170, 60, 70), cv2.LINE_AA)
    cv2.fillPoly(image, [points[60:68]], (50, 15, 20), cv2.LINE_AA)
    return image
