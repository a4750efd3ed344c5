"""The paper's audio representation: a spectrogram resized to 156 x 64 (paper §3).

The paper gives no parameters beyond the size. Choice (NOTES-wave2 §3.6): VGGish's log-mel, 16 kHz,
25 ms Hann window, 10 ms hop, 64 HTK-mel bands over 125-7500 Hz of the STFT magnitude,
log(mel + 0.01); then the whole utterance bilinearly resized to 156 time steps x 64 bands.
numpy only (no torchaudio): one implementation for datasets, training and serving.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
MEL_BANDS = 64
MEL_RANGE = (125.0, 7500.0)
LOG_OFFSET = 0.01
FRAMES = 156  # paper §3: 156 x 64
SHAPE = (FRAMES, MEL_BANDS)


class AudioError(ValueError):
    """Bytes or a file that are not usable audio."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def decode_wav(data: bytes | str) -> Audio:
    """A WAV file (path or bytes) -> mono float32; AudioError saying why not."""
    try:
        rate, samples = wavfile.read(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (ValueError, EOFError, OSError) as exc:
        raise AudioError(f"not a readable WAV file ({exc})") from exc
    if samples.dtype.kind == "i":
        samples = samples.astype(np.float32) / float(np.iinfo(samples.dtype).max)
    elif samples.dtype.kind == "u":  # 8-bit PCM is unsigned around 128
        samples = (samples.astype(np.float32) - 128.0) / 128.0
    else:
        samples = samples.astype(np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return Audio(samples=samples, sample_rate=int(rate))


def resample(audio: Audio, rate: int = SAMPLE_RATE) -> np.ndarray:
    if audio.sample_rate == rate:
        return audio.samples
    g = math.gcd(audio.sample_rate, rate)
    return resample_poly(audio.samples, rate // g, audio.sample_rate // g).astype(np.float32)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(hz / 700.0)  # HTK, as VGGish


@lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """[N_FFT // 2 + 1, MEL_BANDS] triangular filters on the HTK mel scale (VGGish's construction)."""
    bins = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    spectrum_mel = _hz_to_mel(bins)
    edges = np.linspace(_hz_to_mel(np.array(MEL_RANGE[0])), _hz_to_mel(np.array(MEL_RANGE[1])), MEL_BANDS + 2)
    weights = np.zeros((len(bins), MEL_BANDS))
    for band in range(MEL_BANDS):
        lower, centre, upper = edges[band : band + 3]
        rising = (spectrum_mel - lower) / (centre - lower)
        falling = (upper - spectrum_mel) / (upper - centre)
        weights[:, band] = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # no DC
    return weights.astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono -> [frames, 64] log-mel; at least one window of samples is needed."""
    if len(samples) < WINDOW:
        raise AudioError(
            f"{len(samples)} samples at {SAMPLE_RATE} Hz: shorter than one {WINDOW}-sample window"
        )
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP]
    window = np.hanning(WINDOW + 1)[:-1].astype(np.float32)  # periodic Hann
    magnitude = np.abs(np.fft.rfft(frames * window, n=N_FFT))
    return np.log(magnitude @ mel_matrix() + LOG_OFFSET).astype(np.float32)


def resize(mel: np.ndarray) -> np.ndarray:
    """[frames, 64] -> [156, 64], bilinear over the whole utterance (paper §3: resized)."""
    return cv2.resize(mel, (MEL_BANDS, FRAMES), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def spectrogram(audio: Audio) -> np.ndarray:
    """Any-rate mono audio -> the paper's 156 x 64 spectrogram (float32)."""
    return resize(log_mel(resample(audio)))
