"""What a request to the audio emotion recognizer carries and what it answers."""

from __future__ import annotations

import numpy as np

from models.audio_emotion.model import AudioEmotionConfig
from models.audio_emotion.spectrogram import FRAMES, MEL_BANDS
from models.common.schema import ServingSchema, TensorSpec

SPECTROGRAM = TensorSpec(
    "spectrogram",
    "float32",
    (FRAMES, MEL_BANDS),
    f"the utterance's log-mel spectrogram resized to {FRAMES} x {MEL_BANDS} (spectrogram.py)",
)
# the speaker's gender is monitoring metadata (accuracy by gender); it never reaches the model
METADATA = ("request_id", "subject_pseudonym", "gender")


def serving_schema(config: AudioEmotionConfig) -> ServingSchema:
    k = len(config.classes)
    outputs = (
        TensorSpec("probabilities", "float32", (k,), f"probabilities of {', '.join(config.classes)}"),
        TensorSpec("label", "int64", (), f"the most probable class index (0-{k - 1})"),
    )
    return ServingSchema(inputs=(SPECTROGRAM,), outputs=outputs, metadata=METADATA)


def example_input(config: AudioEmotionConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """A valid request: a spectrogram of log-mel-like values."""
    rng = np.random.default_rng(seed)
    return {"spectrogram": rng.normal(-2.0, 1.5, (FRAMES, MEL_BANDS)).astype(np.float32)}
