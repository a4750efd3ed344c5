"""Audio features: MakeItTalk's mel spectrogram (NOTES §2.1) with torch.stft, and the windows of it
that belong to each video frame.

The paper feeds its encoders AutoVC features F_a [T, 80] (§3.1), which in MakeItTalk are the 80-bin
mel after AutoVC converts the utterance to one fixed speaker (NOTES §2.1). AutoVC's weights cannot be
had here. **Stand-in (documented choice):** F_a is the unconverted 80-bin mel in AutoVC's scaling, so
it is not speaker-normalised; the identity it still carries is what the style encoder's MLP_i reads
and what L_identity (Eq. 6) is to tie across a speaker's videos.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from models.face_animation.dataset import FPS, SAMPLE_RATE

N_MELS, N_FFT, HOP = 80, 1024, 256  # 62.5 mel frames / s at 16 kHz
FMIN, FMAX, HIGHPASS_HZ = 90.0, 7600.0, 30.0
MEL_FPS = SAMPLE_RATE / HOP
WINDOW = 18  # mel frames per landmark frame: MakeItTalk's LSTM window (NOTES §2.1)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:  # Slaney's mel scale (linear below 1 kHz), as librosa's
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz < 1000, hz * 3 / 200, 15 + 27 * np.log(np.maximum(hz, 1e-9) / 1000) / np.log(6.4))


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return np.where(mel < 15, mel * 200 / 3, 1000 * np.exp((mel - 15) * np.log(6.4) / 27))


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """float32 [N_MELS, N_FFT // 2 + 1]: Slaney-normalised triangular filters from FMIN to FMAX."""
    freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    lower = (freqs[None] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - freqs[None]) / (edges[2:] - edges[1:-1])[:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """``samples`` at ``rate`` -> 16 kHz (polyphase)."""
    if rate == SAMPLE_RATE:
        return samples.astype(np.float32)
    from scipy.signal import resample_poly  # scipy.signal takes seconds to import: serving may not need it

    divisor = np.gcd(rate, SAMPLE_RATE)
    return resample_poly(samples, SAMPLE_RATE // divisor, rate // divisor).astype(np.float32)


def mel_features(samples: np.ndarray) -> np.ndarray:
    """F_a: float32 [n_mel_frames, 80] of 16 kHz ``samples``: 30 Hz high-pass, |STFT| (Hann, 1024,
    hop 256), mel 90-7600 Hz, (20 log10(mel) - 16 + 100) / 100 clipped to [0, 1] (AutoVC's make_spect)."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(5, HIGHPASS_HZ, btype="highpass", fs=SAMPLE_RATE, output="sos")
    filtered = sosfiltfilt(sos, samples.astype(np.float64)).astype(np.float32)
    spectrum = torch.stft(
        torch.from_numpy(np.ascontiguousarray(filtered)),
        N_FFT,
        HOP,
        window=torch.hann_window(N_FFT),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()
    mel = torch.from_numpy(mel_filterbank()) @ spectrum
    db = 20 * torch.log10(torch.clamp(mel, min=1e-5)) - 16
    return torch.clamp((db + 100) / 100, 0, 1).T.numpy().astype(np.float32)


def frame_windows(features: np.ndarray, n_frames: int) -> np.ndarray:
    """float32 [n_frames, WINDOW, 80]: for video frame t (at 25 fps) the WINDOW mel frames centred on
    its time (zero-padded at the ends). Choice: landmarks stay at the video's 25 fps and each frame
    reads an 18-frame mel window, where MakeItTalk interpolates landmarks to 62.5 fps."""
    padded = np.concatenate(
        [np.zeros((WINDOW, N_MELS), np.float32), features, np.zeros((WINDOW, N_MELS), np.float32)]
    )
    centres = np.round((np.arange(n_frames) + 0.5) / FPS * MEL_FPS).astype(int) + WINDOW
    index = centres[:, None] + np.arange(-WINDOW // 2, WINDOW - WINDOW // 2)[None]
    return padded[np.clip(index, 0, len(padded) - 1)]


def frame_energy(samples: np.ndarray, n_frames: int) -> np.ndarray:
    """RMS level in dB of 16 kHz ``samples`` over each video frame's 40 ms (model-free oracle input)."""
    hop = SAMPLE_RATE / FPS
    out = np.empty(n_frames, dtype=np.float64)
    for t in range(n_frames):
        chunk = samples[int(t * hop) : int((t + 1) * hop)]
        out[t] = 10 * np.log10(np.mean(chunk.astype(np.float64) ** 2) + 1e-10) if len(chunk) else -100.0
    return out


def pitch_hz(samples: np.ndarray, floor_db: float = -35.0) -> float:
    """Median fundamental frequency (Hz) of 16 kHz ``samples`` over its voiced 40 ms frames: the
    autocorrelation peak between 60 and 400 Hz of frames within ``floor_db`` of the loudest (NaN
    without a voiced frame). A monitoring descriptor of the input speech, not a model input."""
    hop = int(SAMPLE_RATE / FPS)
    frames = [samples[i : i + hop].astype(np.float64) for i in range(0, len(samples) - hop + 1, hop)]
    if not frames:
        return float("nan")
    levels = np.array([10 * np.log10(np.mean(f**2) + 1e-12) for f in frames])
    lags = np.arange(SAMPLE_RATE // 400, SAMPLE_RATE // 60 + 1)
    found = []
    for frame, level in zip(frames, levels, strict=True):
        if level < levels.max() + floor_db:
            continue
        frame = frame - frame.mean()
        corr = np.correlate(frame, frame, mode="full")[len(frame) - 1 :]
        corr = corr / (corr[0] + 1e-12)
        lag = lags[np.argmax(corr[lags])]
        if corr[lag] > 0.3:  # periodic enough to be voiced
            found.append(SAMPLE_RATE / lag)
    return float(np.median(found)) if found else float("nan")
