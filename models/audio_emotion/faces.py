"""Rendered synthetic face images with an expression (SYNTHETIC: drawn, not photographed).

A face is an identity (face shape, skin tone, feature spacing) and an expression given as FACS
action units, the way expressions are described in IFER corpora: brows (AU1 inner raise, AU2 outer
raise, AU4 lowerer), lids (AU5 upper raise, AU7 tightener), nose wrinkle (AU9), lip corners (AU12 up,
AU15 down, AU20 stretch), lips (AU23 tightener, AU26 jaw drop). Each emotion is the prototype AU
combination from the EMFACS tables, scaled by an intensity. Rendered with OpenCV at 64 x 64 gray.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 64
AUS = ("AU1", "AU2", "AU4", "AU5", "AU7", "AU9", "AU12", "AU15", "AU20", "AU23", "AU26")
# EMFACS prototypes (Friesen & Ekman): happy 6+12, sad 1+4+15, angry 4+5+7+23, fear 1+2+4+5+20+26,
# disgust 9+15, surprise 1+2+5+26; calm: a faint smile with relaxed lids (RAVDESS's extra class)
EMOTION_AUS: dict[str, dict[str, float]] = {
    "neutral": {},
    "calm": {"AU12": 0.25, "AU7": 0.3},
    "happy": {"AU12": 1.0, "AU7": 0.3},
    "sad": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0},
    "angry": {"AU4": 1.0, "AU5": 0.5, "AU7": 0.8, "AU23": 1.0},
    "fearful": {"AU1": 1.0, "AU2": 0.8, "AU4": 0.5, "AU5": 1.0, "AU20": 1.0, "AU26": 0.6},
    "disgust": {"AU9": 1.0, "AU15": 0.6, "AU4": 0.4},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
}


@dataclass(frozen=True)
class Identity:
    """One synthetic person's fixed face geometry and tone."""

    width: float  # face half-width in pixels
    height: float  # face half-height
    skin: int  # gray level of the skin
    eye_gap: float  # half distance between the eyes
    eye_y: float  # eye line below the centre (negative: above)
    mouth_y: float
    mouth_width: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Identity:
        return cls(
            width=rng.uniform(19, 24),
            height=rng.uniform(25, 29),
            skin=int(rng.integers(120, 200)),
            eye_gap=rng.uniform(7.5, 10),
            eye_y=rng.uniform(-7, -4),
            mouth_y=rng.uniform(11, 14),
            mouth_width=rng.uniform(6, 9),
        )


def render(identity: Identity, emotion: str, intensity: float, rng: np.random.Generator) -> np.ndarray:
    """One 64 x 64 uint8 face of ``identity`` showing ``emotion`` at ``intensity`` (0-1), with a
    small random head shift, lighting and sensor noise."""
    au = {name: min(1.0, value * intensity) for name, value in EMOTION_AUS[emotion].items()}

    def a(name: str) -> float:
        return au.get(name, 0.0)

    image = np.full((SIZE, SIZE), int(rng.integers(30, 70)), np.uint8)
    cx, cy = SIZE / 2 + rng.normal(0, 1.0), SIZE / 2 + rng.normal(0, 1.0)
    i = identity
    dark = max(0, i.skin - 90)

    def p(x: float, y: float) -> tuple[int, int]:
        return round(cx + x), round(cy + y)

    cv2.ellipse(image, p(0, 0), (round(i.width), round(i.height)), 0, 0, 360, i.skin, -1, cv2.LINE_AA)
    for side in (-1, 1):
        ex, ey = side * i.eye_gap, i.eye_y
        # lids: AU5 opens, AU7 narrows
        opening = max(0.6, 2.2 + 2.0 * a("AU5") - 1.6 * a("AU7"))
        cv2.ellipse(image, p(ex, ey), (4, round(opening)), 0, 0, 360, 245, -1, cv2.LINE_AA)
        cv2.circle(image, p(ex, ey), 1, 20, -1, cv2.LINE_AA)
        # brows: AU1 lifts the inner end, AU2 the outer one, AU4 lowers and pulls them together
        base = ey - 5.0 - 1.5 * a("AU5")
        inner = (side * (i.eye_gap - 4 + 1.5 * a("AU4")), base - 3.0 * a("AU1") + 2.5 * a("AU4"))
        outer = (side * (i.eye_gap + 5), base - 3.0 * a("AU2") + 0.5 * a("AU4"))
        cv2.line(image, p(*inner), p(*outer), dark, 2, cv2.LINE_AA)
    # nose; AU9 wrinkles its bridge
    cv2.line(image, p(0, i.eye_y + 2), p(0, i.mouth_y - 5), dark + 30, 1, cv2.LINE_AA)
    for k in range(round(3 * a("AU9"))):
        cv2.line(image, p(-3, i.eye_y + 3 + 2 * k), p(3, i.eye_y + 3 + 2 * k), dark, 1, cv2.LINE_AA)
    # mouth: corners up (AU12) or down (AU15), stretched (AU20), pressed (AU23), jaw drop (AU26)
    half = i.mouth_width * (1 + 0.35 * a("AU20") + 0.2 * a("AU12") - 0.25 * a("AU23"))
    corner_y = i.mouth_y - 3.5 * a("AU12") + 3.0 * a("AU15") - 1.0 * a("AU9")
    open_ = 5.0 * a("AU26") + 1.5 * a("AU20")
    upper = np.array([p(-half, corner_y), p(0, i.mouth_y - 0.5 - 1.5 * a("AU9")), p(half, corner_y)])
    lower = np.array([p(half, corner_y), p(0, i.mouth_y + open_ + 1.5 * a("AU12")), p(-half, corner_y)])
    lip = np.concatenate([upper, lower]).astype(np.int32)
    cv2.fillPoly(image, [lip], 60, cv2.LINE_AA)
    cv2.polylines(image, [lip], True, dark, 1, cv2.LINE_AA)
    # lighting gradient and sensor noise
    light = np.linspace(rng.uniform(-15, 0), rng.uniform(0, 15), SIZE)[None, :]
    noisy = image.astype(np.float32) + light + rng.normal(0, 4.0, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)
