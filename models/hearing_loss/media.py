"""Face video -> the per-frame Marlin features of the hearing-loss detector (paper §3.2.1, §4.3).

frames at the cohort's 5 fps -> largest face, FFHQ-style aligned 224 × 224 crop -> frozen MARLIN
encoder -> ``[T, D]`` float32, one row per resampled frame. The same code builds cohorts from
recorded videos (``featurize_segment``) and serves raw media (``MEDIA``, the family's raw-media
contract, ``models.common.media``): per request, a ``current`` and an ``anchor`` segment (paper §3.2:
inference), each an encoded clip (``BYTES [1]``) or a batch of RGB frames (``UINT8 [T, H, W, 3]``
with the request parameter ``fps``), becoming the predictor's ``current`` / ``anchor`` ``[T, 384]``.
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from models.common.face import FaceAligner, NoFaceError
from models.common.marlin import MarlinConfig, MarlinEncoder, load_encoder
from models.common.media import Media, MediaError, MediaInput
from models.hearing_loss.dataset import FEATURE_DIM, FPS
from models.hearing_loss.schema import CURRENT, METADATA

log = logging.getLogger(__name__)

_EPS = 1e-6  # seconds: absorbs float error in container timestamps (e.g. 0.2 vs 0.19999999)
CLIPS_PER_BATCH = 8  # encoder batch: 8 clips of 16 × 224² frames is ~80 MB of input
MARLIN_SMALL = MarlinConfig()  # paper §3.2.1
RANDOM_WEIGHTS_WARNING = (
    "MARLIN encoder has RANDOM weights (no checkpoint given): these features carry no learned facial "
    "information and only exercise the pipeline"
)
SEGMENTS = ("current", "anchor")  # the predictor's input names
FRAMES_BOUNDS = CURRENT.length  # the predictor's [min, max] frames per segment at 5 fps


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
    return SegmentFeatures(
        features=encode_crops(faces.crops, encoder.to(device).eval(), device),
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


def encode_crops(crops: np.ndarray, encoder: MarlinEncoder, device: str = "cpu") -> np.ndarray:
    """Aligned ``[T, S, S, 3]`` uint8 crops -> ``[T, D]`` float32 on the encoder's ``device``."""
    step = encoder.config.n_frames * CLIPS_PER_BATCH  # whole clips per batch: the same clips as one pass
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), step):
            # MARLIN's input: RGB scaled to [0, 1], no mean/std normalisation, [T, 3, H, W]
            batch = torch.from_numpy(crops[i : i + step]).to(device).permute(0, 3, 1, 2).float() / 255
            out.append(encoder.frame_features(batch).float().cpu())
    return torch.cat(out).numpy()


def resample_indices(n_frames: int, fps: float, target: float = FPS) -> np.ndarray:
    """Which of ``n_frames`` frames at ``fps`` is on screen at each ``k / target`` before the clip's end:
    ``iter_frames``' timestamp resampling (paper §4.1: 5 fps), for frames already decoded."""
    duration = n_frames / fps
    count = max(0, math.ceil((duration - _EPS) * target))
    index = np.floor((np.arange(count) / target + _EPS) * fps).astype(np.int64)
    return np.minimum(index, n_frames - 1)


def frozen_encoder(weights: Path | None, config: MarlinConfig = MARLIN_SMALL, seed: int = 0) -> MarlinEncoder:
    """The MARLIN encoder of the checkpoint ``weights``; None: random weights from ``seed``, with a
    warning (their features carry no facial information)."""
    if weights is None:
        warnings.warn(RANDOM_WEIGHTS_WARNING, UserWarning, stacklevel=2)
        return MarlinEncoder(config, seed=seed).eval().requires_grad_(False)
    return load_encoder(weights, config)


class VideoPreprocessor:
    """A request's segments -> the predictor's ``current`` / ``anchor`` features, exactly as
    ``featurize_segment`` gives them for a cohort (a ``models.common.media.MediaPreprocessor``).

    Encoded clips are written to a temporary file for OpenCV and deleted when featurized.
    """

    def __init__(self, encoder: MarlinEncoder, aligner: FaceAligner) -> None:
        self.encoder = encoder
        self.aligner = aligner

    def __call__(
        self, inputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]
    ) -> dict[str, np.ndarray]:
        return {segment: self._segment(segment, inputs, parameters) for segment in SEGMENTS}

    def _segment(
        self, segment: str, inputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]
    ) -> np.ndarray:
        clip = inputs.get(f"{segment}_video")
        if clip is not None:
            return self._from_video(f"{segment}_video", clip.reshape(-1)[0])
        return self._from_frames(f"{segment}_frames", inputs[f"{segment}_frames"], parameters.get("fps"))

    def _from_video(self, field: str, clip: bytes) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="affectops-clip-") as tmp:
            path = Path(tmp) / "clip"
            path.write_bytes(clip)
            _check_duration(field, path)
            try:
                features = featurize_segment(path, self.encoder, aligner=self.aligner).features
            except (VideoError, NoFaceError) as err:
                raise MediaError(field, _without_source(err, str(path), field)) from None
        _check_frames(field, len(features))
        return features

    def _from_frames(self, field: str, frames: np.ndarray, fps: Any) -> np.ndarray:
        if 0 in frames.shape[1:3]:
            raise MediaError(field, f"shape must be [T, H, W, 3] (RGB frames), got {list(frames.shape)}")
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps) or fps <= 0:
            raise MediaError(
                "fps", f"{field} needs the request parameter fps, a positive number; got {fps!r}"
            )
        picked = frames[resample_indices(len(frames), float(fps))]
        _check_frames(field, len(picked))
        try:
            faces = self.aligner.align_video(iter(picked), source=field)
        except NoFaceError as err:
            raise MediaError(field, _without_source(err, field, field)) from None
        return encode_crops(faces.crops, self.encoder)


def load(
    weights: Path | None, config: MarlinConfig = MARLIN_SMALL, *, allow_random_weights: bool = False
) -> VideoPreprocessor:
    """The face aligner and the MARLIN encoder of the checkpoint ``weights`` (a local file)."""
    if weights is None and not allow_random_weights:
        raise ValueError(
            "encoder_weights: a MARLIN checkpoint (Marlin-Small's encoder) is required; a random encoder "
            "gives features without facial information (allow_random_weights=True is for tests)"
        )
    if config.embed_dim != FEATURE_DIM:
        raise ValueError(
            f"encoder_config: embed_dim {config.embed_dim} does not match the predictor's "
            f"{FEATURE_DIM}-d features"
        )
    return VideoPreprocessor(frozen_encoder(weights, config), FaceAligner())


def _without_source(err: Exception, source: str, field: str) -> str:
    """An error's message about ``source`` as a message about ``field``, less its ``field: `` prefix."""
    return str(err).replace(source, field).removeprefix(f"{field}: ")


def _check_duration(field: str, path: Path) -> None:
    """Refuse a clip whose header says it is far too long before decoding it (the exact check follows)."""
    cap = cv2.VideoCapture(str(path))
    try:
        fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        cap.release()
    if fps > 0 and count > 0 and (count / fps) * FPS > FRAMES_BOUNDS[1] + FPS:  # a second of slack
        raise MediaError(
            field,
            f"{count / fps:.1f} s is {math.ceil(count / fps * FPS)} frames at {FPS} fps; "
            f"the predictor takes {FRAMES_BOUNDS[0]} to {FRAMES_BOUNDS[1]}",
        )


def _check_frames(field: str, n_frames: int) -> None:
    low, high = FRAMES_BOUNDS
    if not low <= n_frames <= high:
        raise MediaError(
            field,
            f"{n_frames} frames at {FPS} fps; the predictor takes {low} to {high} "
            f"({low / FPS:g} to {high / FPS:g} s)",
        )


MEDIA = Media(
    inputs=tuple(
        form
        for segment in SEGMENTS
        for form in (
            MediaInput(f"{segment}_video", segment, "BYTES", (1,), "an encoded clip"),
            MediaInput(f"{segment}_frames", segment, "UINT8", ("T", "H", "W", 3), "RGB frames", ("fps",)),
        )
    ),
    load=load,
    config=MARLIN_SMALL,
    metadata=METADATA,
)
