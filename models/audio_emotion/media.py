"""A WAV upload -> the predictor's spectrogram (the family's raw-media contract, models.common.media).

The transformer hands over the request's ``audio`` (BYTES [1], one WAV file); the preprocessor
decodes it, refuses audio it cannot honestly turn into the paper's spectrogram (MediaError naming
the field: not a WAV, truncated, absurd sample rate, too short or too long, silence, non-finite
samples), resamples to 16 kHz and computes the 156 x 64 log-mel (spectrogram.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from models.audio_emotion.expectations import MAX_RATE, MAX_SECONDS, MIN_RATE, MIN_SECONDS, SILENCE_DBFS
from models.audio_emotion.schema import METADATA
from models.audio_emotion.spectrogram import AudioError, decode_wav, log_mel, resample, resize
from models.common.media import Media, MediaError, MediaInput

FIELD = "audio"
MAX_BYTES = int(MAX_SECONDS * MAX_RATE * 2 * 2) + 1024  # 30 s of 16-bit stereo at the highest rate


class AudioPreprocessor:
    """WAV bytes -> {"spectrogram": [156, 64] float32}."""

    def __call__(
        self, inputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]
    ) -> dict[str, np.ndarray]:
        data = inputs[FIELD].reshape(-1)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # scipy only warns about a truncated chunk: refuse it
            try:
                audio = decode_wav(bytes(data))
            except (AudioError, Warning) as err:
                raise MediaError(FIELD, f"not a usable WAV file: {err}") from None
        if not MIN_RATE <= audio.sample_rate <= MAX_RATE:
            raise MediaError(FIELD, f"sample rate {audio.sample_rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
        if len(audio.samples) == 0:
            raise MediaError(FIELD, "the WAV file holds no samples (truncated?)")
        if not np.isfinite(audio.samples).all():
            raise MediaError(FIELD, "samples contain NaN or inf")
        if not MIN_SECONDS <= audio.seconds <= MAX_SECONDS:
            raise MediaError(
                FIELD, f"{audio.seconds:.2f} s of audio; an utterance is {MIN_SECONDS}-{MAX_SECONDS} s"
            )
        rms = float(np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2)))
        if 20 * np.log10(max(rms, 1e-10)) < SILENCE_DBFS:
            raise MediaError(FIELD, f"silence: RMS level below {SILENCE_DBFS} dBFS")
        return {"spectrogram": resize(log_mel(resample(audio)))}


def load(
    weights: Path | None, config: Any = None, *, allow_random_weights: bool = False
) -> AudioPreprocessor:
    """The preprocessor; it has no weights (the spectrogram is fixed signal processing)."""
    if weights is not None:
        raise ValueError(f"encoder_weights: the audio preprocessor takes no weights, got {weights}")
    return AudioPreprocessor()


MEDIA = Media(
    inputs=(MediaInput(FIELD, "spectrogram", "BYTES", (1,), "a WAV file", max_bytes=MAX_BYTES),),
    load=load,
    metadata=METADATA,
)
