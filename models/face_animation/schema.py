"""What a request to the face animator carries and what it answers (sizes bounded and stated)."""

from __future__ import annotations

import numpy as np

from models.common.schema import ServingSchema, TensorSpec
from models.face_animation.dataset import N_LANDMARKS, SAMPLE_RATE
from models.face_animation.model import FaceAnimationConfig
from models.face_animation.render import face_frame
from models.face_animation.synth import EMOTIONS, draw_speaker, face_track

# choice: 0.2-10 s of speech per request: at most 250 frames, 49 MB of uint8 frames at 256²
MIN_SAMPLES, MAX_SAMPLES = SAMPLE_RATE // 5, 10 * SAMPLE_RATE
MIN_SIDE, MAX_SIDE = 16, 1024  # the reference image's side; it is resized to the model's image size
METADATA = ("request_id",)


def serving_schema(config: FaceAnimationConfig) -> ServingSchema:
    """16 kHz mono speech, the reference face image and its 68 3D landmarks in; T = 25 fps frames out."""
    size = config.image_size
    inputs = (
        TensorSpec(
            "audio", "float32", (None,), "16 kHz mono speech samples in [-1, 1]", (MIN_SAMPLES, MAX_SAMPLES)
        ),
        # the image as pixel rows [S², 3] (row-major): the inference log summarises inputs of 1-2 dims
        TensorSpec(
            "reference_image",
            "uint8",
            (None, 3),
            f"the face to animate: a square RGB image's S² pixels, row-major, {MIN_SIDE} <= S <= {MAX_SIDE}",
            (MIN_SIDE**2, MAX_SIDE**2),
        ),
        TensorSpec(
            "reference_landmarks",
            "float32",
            (N_LANDMARKS, 3),
            "its 68 3D landmarks (FAN order) in its pixels",
        ),
    )
    outputs = (
        TensorSpec(
            "landmarks",
            "float32",
            (None, N_LANDMARKS, 2),
            "predicted landmarks L_p per frame (aligned, 256²)",
        ),
        TensorSpec(
            "frames", "uint8", (None, size, size, 3), f"synthesized frames, RGB {size}×{size}, 25 fps"
        ),
        TensorSpec("lip_distance", "float32", (None,), "inner-lip distance per frame (the paper's Fig. 2)"),
        TensorSpec("mouth_opening", "float32", (), "mean inner-lip distance of the request (256² pixels)"),
        TensorSpec("duration_s", "float32", (), "the speech's duration"),
        TensorSpec("loudness_db", "float32", (), "the speech's RMS level (dB full scale)"),
        TensorSpec("pitch_hz", "float32", (), "median pitch of its voiced frames (0: none found)"),
    )
    return ServingSchema(inputs=inputs, outputs=outputs, metadata=METADATA)


def example_input(config: FaceAnimationConfig, seed: int = 0, seconds: float = 1.0) -> dict[str, np.ndarray]:
    """Valid request tensors: 1 s of a vowel-like harmonic tone with a syllable rhythm and a drawn face."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))
    audio = 0.2 * voice * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)) + 0.005 * rng.standard_normal(len(t))
    speaker = draw_speaker(rng, 0)
    marks = face_track(speaker, EMOTIONS["neutral"], 1.0, np.zeros(1), rng)[0] * (config.image_size / 256)
    image = face_frame(
        marks[:, :2] * (256 / config.image_size), config.image_size, speaker["skin"], (60, 60, 60)
    )
    return {
        "audio": audio.astype(np.float32),
        "reference_image": image.reshape(-1, 3),
        "reference_landmarks": marks.astype(np.float32),
    }
