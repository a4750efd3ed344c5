"""Video in, hearing-loss prediction out: a KServe transformer in front of the hearing-loss predictor.

Request (Open Inference Protocol v2, REST), one per current/anchor pair (paper §3.2: inference):

- ``current_video`` and ``anchor_video``: ``BYTES`` tensors of shape ``[1]``, each one encoded clip
  (mp4 or any container OpenCV reads), sent with the binary tensor data extension (JSON strings
  cannot carry video bytes); or
- ``current_frames`` and ``anchor_frames``: ``UINT8`` ``[T, H, W, 3]`` RGB frame batches, with the
  request parameter ``fps`` (their frame rate, a positive number);
- request parameters ``request_id``, ``subject_pseudonym``, ``age``, ``gender``: monitoring metadata,
  passed to the predictor untouched (it echoes them for the inference log; they never reach a model).

Each segment goes through the pipeline's featurize code (5 fps resampling, face alignment, the
MARLIN encoder: ``models.hearing_loss.featurize``), becoming float32 ``[T, 384]`` ``current`` and
``anchor`` tensors that are forwarded to the predictor as a binary v2 request. The response is
the predictor's outputs (probability, label, threshold, age_estimate) with its model version.

Bad input is a 400 (kserve ``InvalidInput``) naming the field: a missing segment, both forms for one
segment, an unknown input, a clip over ``max_clip_bytes``, an undecodable clip, a clip without a face,
or a clip whose 5 fps length falls outside the predictor's bounds (checked before calling it).
Encoded clips are written to a temporary file for OpenCV and deleted when featurized.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import httpx
import kserve
import numpy as np
import orjson
import torch
from kserve.errors import InferenceError, InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from components.featurize import MARLIN_SMALL, RANDOM_WEIGHTS_WARNING, resolve_weights
from core.settings import Settings, load_settings
from models.common.face import FaceAligner, NoFaceError
from models.common.marlin import MarlinConfig, MarlinEncoder, load_encoder
from models.hearing_loss.cohort import FEATURE_DIM, FPS
from models.hearing_loss.featurize import CLIPS_PER_BATCH, VideoError, featurize_segment
from models.hearing_loss.serving_schema import CURRENT, METADATA
from serving.inference_log import HEADER_LENGTH

SEGMENTS = ("current", "anchor")  # the predictor's input names
FRAMES_BOUNDS = CURRENT.length  # the predictor's [min, max] frames per segment at 5 fps
DEFAULT_MAX_CLIP_BYTES = 64 << 20  # an encoded 2-minute clip at ~4 Mbit/s; frame batches count raw bytes
_EPS = 1e-6  # seconds, as in iter_frames: absorbs float error in frame times


class VideoTransformer(kserve.Model):
    """Featurizes the video segments of a request and forwards the features to ``predictor_host``.

    The model name must equal the predictor's: KServe routes ``/v2/models/NAME/infer`` to both.
    """

    def __init__(
        self,
        name: str,
        predictor_host: str,
        encoder_weights: str | None,
        *,
        encoder_config: MarlinConfig = MARLIN_SMALL,
        allow_random_weights: bool = False,
        max_clip_bytes: int = DEFAULT_MAX_CLIP_BYTES,
        timeout_s: float = 60.0,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(name)
        if encoder_weights is None and not allow_random_weights:
            raise ValueError(
                "encoder_weights: a MARLIN checkpoint (local path or s3:// prefix) is required; a random "
                "encoder gives features without facial information (allow_random_weights=True is for tests)"
            )
        if encoder_config.embed_dim != FEATURE_DIM:
            raise ValueError(
                f"encoder_config: embed_dim {encoder_config.embed_dim} does not match the predictor's "
                f"{FEATURE_DIM}-d features"
            )
        self.predictor_host = predictor_host
        self.encoder_weights = encoder_weights
        self.encoder_config = encoder_config
        self.max_clip_bytes = max_clip_bytes
        self.timeout_s = timeout_s
        self.settings = settings
        self.encoder: MarlinEncoder | None = None
        self.aligner: FaceAligner | None = None
        self._client: httpx.AsyncClient | None = None
        # featurizing is seconds of CPU: off the event loop, so health probes keep answering, and one at
        # a time, since torch and OpenCV already spread one clip over the cores
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"featurize-{name}")

    def load(self) -> bool:
        if self.encoder_weights is None:
            warnings.warn(RANDOM_WEIGHTS_WARNING, UserWarning, stacklevel=2)
            self.encoder = MarlinEncoder(self.encoder_config, seed=0).eval().requires_grad_(False)
        else:
            path = resolve_weights(self.encoder_weights, self.settings or load_settings())
            self.encoder = load_encoder(path, self.encoder_config)
        self.aligner = FaceAligner()
        self.ready = True
        return self.ready

    def stop(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def preprocess(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> InferRequest:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self.preprocess_now, payload)

    def preprocess_now(self, payload: dict | InferRequest) -> InferRequest:
        """The video request -> the predictor's v2 request (binary float32 tensors, metadata parameters)."""
        if self.encoder is None:
            raise RuntimeError(f"transformer {self.name} is not loaded")
        if not isinstance(payload, InferRequest):
            raise InvalidInput("request: this endpoint takes Open Inference Protocol v2 requests only")
        inputs = _inputs_by_name(payload)
        parameters = payload.parameters or {}
        features = {segment: self._segment(segment, inputs, parameters) for segment in SEGMENTS}
        infer_inputs = []
        for name, value in features.items():
            infer_input = InferInput(name, list(value.shape), "FP32")
            infer_input.set_data_from_numpy(value, binary_data=True)
            infer_inputs.append(infer_input)
        return InferRequest(
            model_name=self.name,
            infer_inputs=infer_inputs,
            request_id=payload.id or str(uuid.uuid4()),
            parameters={k: v for k, v in parameters.items() if k in METADATA} or None,
        )

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        """Forward to the predictor. kserve's own forwarding (``InferenceRESTClient`` ->
        ``InferResponse.from_bytes``) drops the response's ``model_version``, so it is read here."""
        body, json_length = payload.to_rest()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        url = f"http://{self.predictor_host}/v2/models/{self.name}/infer"
        try:
            response = await self._client.post(
                url,
                content=body,
                headers={HEADER_LENGTH: str(json_length), "content-type": "application/octet-stream"},
            )
        except httpx.HTTPError as err:
            raise InferenceError(f"predictor {self.predictor_host}: {type(err).__name__}: {err}") from None
        if response.status_code >= 400:
            message = f"predictor {self.predictor_host} answered {response.status_code}: {_error(response)}"
            raise InvalidInput(message) if response.status_code < 500 else InferenceError(message)
        length = int(response.headers.get(HEADER_LENGTH, len(response.content)))
        result = InferResponse.from_bytes(response.content, length)
        result.model_version = orjson.loads(response.content[:length]).get("model_version")
        return result

    async def postprocess(
        self,
        result: dict | InferResponse,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        return result  # the predictor's outputs, metadata parameters and model version, as they came

    def _segment(self, segment: str, inputs: dict[str, InferInput], parameters: dict[str, Any]) -> np.ndarray:
        video, frames = inputs.get(f"{segment}_video"), inputs.get(f"{segment}_frames")
        if video is not None and frames is not None:
            raise InvalidInput(f"{segment}: give {segment}_video or {segment}_frames, not both")
        if video is not None:
            return self._from_video(f"{segment}_video", video)
        if frames is not None:
            return self._from_frames(f"{segment}_frames", frames, parameters.get("fps"))
        raise InvalidInput(
            f"{segment}: missing; send {segment}_video (BYTES [1], an encoded clip) "
            f"or {segment}_frames (UINT8 [T, H, W, 3] with the fps parameter)"
        )

    def _from_video(self, field: str, tensor: InferInput) -> np.ndarray:
        if tensor.datatype != "BYTES":
            raise InvalidInput(f"{field}: datatype must be BYTES (an encoded clip), got {tensor.datatype}")
        if list(tensor.shape) != [1]:
            raise InvalidInput(f"{field}: shape must be [1] (one clip), got {list(tensor.shape)}")
        clip = tensor.as_numpy().reshape(-1)[0]
        if not isinstance(clip, bytes):
            raise InvalidInput(f"{field}: send the clip as binary data (v2 binary tensor extension)")
        self._check_size(field, len(clip))
        with tempfile.TemporaryDirectory(prefix="affectops-clip-") as tmp:
            path = Path(tmp) / "clip"
            path.write_bytes(clip)
            _check_duration(field, path)
            try:
                features = featurize_segment(path, self.encoder, aligner=self.aligner).features
            except (VideoError, NoFaceError) as err:
                raise InvalidInput(str(err).replace(str(path), field)) from None
        _check_frames(field, len(features))
        return features

    def _from_frames(self, field: str, tensor: InferInput, fps: Any) -> np.ndarray:
        if tensor.datatype != "UINT8":
            raise InvalidInput(f"{field}: datatype must be UINT8 (RGB frames), got {tensor.datatype}")
        shape = list(tensor.shape)
        if len(shape) != 4 or shape[3] != 3 or 0 in shape[1:3]:
            raise InvalidInput(f"{field}: shape must be [T, H, W, 3] (RGB frames), got {shape}")
        self._check_size(field, math.prod(shape))
        if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps) or fps <= 0:
            raise InvalidInput(
                f"fps: {field} needs the request parameter fps, a positive number; got {fps!r}"
            )
        frames = tensor.as_numpy()
        picked = frames[resample_indices(len(frames), float(fps))]
        _check_frames(field, len(picked))
        try:
            faces = self.aligner.align_video(iter(picked), source=field)
        except NoFaceError as err:
            raise InvalidInput(str(err)) from None
        return encode_crops(faces.crops, self.encoder)

    def _check_size(self, field: str, size: int) -> None:
        if size > self.max_clip_bytes:
            raise InvalidInput(
                f"{field}: {size} bytes exceeds the limit of {self.max_clip_bytes} bytes per clip"
            )


def resample_indices(n_frames: int, fps: float, target: float = FPS) -> np.ndarray:
    """Which of ``n_frames`` frames at ``fps`` is on screen at each ``k / target`` before the clip's end:
    ``iter_frames``' timestamp resampling (paper §4.1: 5 fps), for frames already decoded."""
    duration = n_frames / fps
    count = max(0, math.ceil((duration - _EPS) * target))
    index = np.floor((np.arange(count) / target + _EPS) * fps).astype(np.int64)
    return np.minimum(index, n_frames - 1)


def encode_crops(crops: np.ndarray, encoder: MarlinEncoder) -> np.ndarray:
    """Aligned ``[T, S, S, 3]`` uint8 crops -> ``[T, D]`` float32, batched exactly as ``featurize_segment``
    does (whole clips per batch, RGB / 255: MARLIN's input, paper §3.2.1), so the features are the same."""
    step = encoder.config.n_frames * CLIPS_PER_BATCH
    with torch.inference_mode():
        out = [
            encoder.frame_features(torch.from_numpy(crops[i : i + step]).permute(0, 3, 1, 2).float() / 255)
            for i in range(0, len(crops), step)
        ]
    return torch.cat(out).float().numpy()


def _inputs_by_name(request: InferRequest) -> dict[str, InferInput]:
    known = {f"{segment}_{form}" for segment in SEGMENTS for form in ("video", "frames")}
    inputs: dict[str, InferInput] = {}
    for infer_input in request.inputs:
        name = infer_input.name
        if name not in known:
            raise InvalidInput(f"{name}: unknown input; expected some of {', '.join(sorted(known))}")
        if name in inputs:
            raise InvalidInput(f"{name}: input given more than once")
        inputs[name] = infer_input
    return inputs


def _check_duration(field: str, path: Path) -> None:
    """Refuse a clip whose header says it is far too long before decoding it (the exact check follows)."""
    cap = cv2.VideoCapture(str(path))
    try:
        fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        cap.release()
    if fps > 0 and count > 0 and (count / fps) * FPS > FRAMES_BOUNDS[1] + FPS:  # a second of slack
        raise InvalidInput(
            f"{field}: {count / fps:.1f} s is {math.ceil(count / fps * FPS)} frames at {FPS} fps; "
            f"the predictor takes {FRAMES_BOUNDS[0]} to {FRAMES_BOUNDS[1]}"
        )


def _check_frames(field: str, n_frames: int) -> None:
    low, high = FRAMES_BOUNDS
    if not low <= n_frames <= high:
        raise InvalidInput(
            f"{field}: {n_frames} frames at {FPS} fps; the predictor takes {low} to {high} "
            f"({low / FPS:g} to {high / FPS:g} s)"
        )


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:500]
