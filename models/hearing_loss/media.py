"""A face video -> the per-frame Marlin features a hearing-loss cohort stores (paper §3.2.1, §4.3).

frames at the cohort's 5 fps -> largest face, FFHQ-style aligned 224 × 224 crop -> frozen MARLIN
encoder -> ``[T, D]`` float32, one row per resampled frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from models.common.face import FaceAligner
from models.common.marlin import MarlinEncoder
from models.hearing_loss.cohort import FPS

log = logging.getLogger(__name__)

_EPS = 1e-6  # seconds: absorbs float error in container timestamps (e.g. 0.2 vs 0.19999999)
CLIPS_PER_BATCH = 8  # encoder batch: 8 clips of 16 × 224² frames is ~80 MB of input


class VideoError(ValueError):
    """A video that cannot be decoded, or a window it does not cover."""


@dataclass(frozen=True)
class SegmentFeatures:
    features: np.ndarray  # [T, D] float32
    frames_without_face: int  # frames that reused a neighbouring frame's crop
    frames_aligned_from_eyes: int


def iter_frames(
    path: Path | str, *, start_s: float | None = None, end_s: float | None = None, fps: float = FPS
) -> Iterator[np.ndarray]:
    """RGB uint8 frames shown at ``start_s + k / fps`` for every such time before ``end_s``.

    Resampling by timestamps (paper §4.1: the glasses record at 5 fps) takes, for each target time,
    the frame on screen then, i.e. the last one whose timestamp is not later; a video at another
    rate is thereby brought to ``fps`` without speeding it up. ``end_s=None`` means the video's end.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    start = 0.0 if start_s is None else float(start_s)
    if start < 0 or (end_s is not None and end_s <= start):
        raise VideoError(f"{path}: window [{start_s}, {end_s}) s is empty or negative")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: cannot be opened as a video (corrupt or unsupported format)")
        native_fps = cap.get(cv2.CAP_PROP_FPS)
        period = 1.0 / native_fps if native_fps > 0 else 0.0
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        if period and count > 0 and start >= count * period:  # header duration; checked exactly below
            raise VideoError(
                f"{path}: window starts at {start} s, after the video's end ({count * period:.2f} s)"
            )
        if start > 0:
            # Seek a second early: the frame on screen at `start` may begin before it.
            cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, start - 1.0) * 1000)
        stop = np.inf if end_s is None else end_s - _EPS
        k, held, last_ts, decoded = 0, None, None, 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            decoded += 1
            ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
            # every target time before this frame's timestamp shows the previous frame
            while held is not None and start + k / fps < min(ts - _EPS, stop):
                yield held
                k += 1
            if ts >= stop:
                return
            held, last_ts = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ts
        if held is None:
            raise VideoError(
                f"{path}: no frame decoded"
                + (f" at or after {start} s" if start > 0 else " (empty or corrupt)")
            )
        video_end = last_ts + period  # the last frame stays on screen for one native frame period
        if end_s is not None and end_s > video_end + period + _EPS:
            raise VideoError(f"{path}: window [{start}, {end_s}) s ends after the video ({video_end:.2f} s)")
        if start >= video_end:
            raise VideoError(f"{path}: window starts at {start} s, after the video's end ({video_end:.2f} s)")
        if end_s is None:
            stop = video_end - _EPS
        while start + k / fps < stop:
            yield held
            k += 1
        log.debug("%s: %d frames decoded, %d resampled to %s fps", path, decoded, k, fps)
    finally:
        cap.release()


def featurize_segment(
    path: Path | str,
    encoder: MarlinEncoder,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    fps: float = FPS,
    device: str = "cpu",
    aligner: FaceAligner | None = None,
) -> SegmentFeatures:
    """:func:`featurize_video` plus how many frames had no face and how many were eye-aligned."""
    aligner = aligner or FaceAligner()
    window = "" if start_s is None and end_s is None else f" [{start_s}, {end_s}) s"
    if aligner.config.size != encoder.config.img_size:
        raise ValueError(
            f"face crops of {aligner.config.size}² do not fit the encoder's {encoder.config.img_size}²"
        )
    faces = aligner.align_video(
        iter_frames(path, start_s=start_s, end_s=end_s, fps=fps), source=f"{path}{window}"
    )
    if faces.frames_without_face:
        log.warning("%s: %d of %d frames without a face", path, faces.frames_without_face, len(faces.crops))
    encoder = encoder.to(device).eval()
    step = encoder.config.n_frames * CLIPS_PER_BATCH  # whole clips per batch: the same clips as one pass
    out = []
    with torch.inference_mode():
        for i in range(0, len(faces.crops), step):
            # MARLIN's input: RGB scaled to [0, 1], no mean/std normalisation, [T, 3, H, W]
            batch = torch.from_numpy(faces.crops[i : i + step]).to(device).permute(0, 3, 1, 2).float() / 255
            out.append(encoder.frame_features(batch).float().cpu())
    return SegmentFeatures(
        features=torch.cat(out).numpy(),
        frames_without_face=faces.frames_without_face,
        frames_aligned_from_eyes=int(faces.from_eyes.sum()),
    )


def featurize_video(
    path: Path | str,
    encoder: MarlinEncoder,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    fps: float = FPS,
    device: str = "cpu",
) -> np.ndarray:
    """Per-frame features ``[T, D]`` float32 of the window ``[start_s, end_s)`` resampled to ``fps``.

    The encoder is moved to ``device`` and put in eval mode: it stays frozen (paper §4.3).
    """
    return featurize_segment(path, encoder, start_s=start_s, end_s=end_s, fps=fps, device=device).features
