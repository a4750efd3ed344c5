"""Hand-crafted audio features per video frame (paper §3.2.2): fbank computed here, eGeMAPS and
ComParE 2016 from openSMILE, all resampled from their 10 ms hop to the video's frame rate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from models.expression.dataset import META_FILE, VIDEOS_FILE, feature_path, read_videos
from models.expression.features import dim

HOP_S = 0.010  # 10 ms hop: Kaldi's fbank default and openSMILE's LLD rate
WINDOW_S = 0.025
N_MELS = 80  # paper §3.2.2: fbank is 80-d
OPENSMILE_REQUIREMENT = "opensmile==2.6.0"


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate."""
    rate, samples = wavfile.read(Path(path))
    if samples.dtype.kind == "i":
        samples = samples / float(np.iinfo(samples.dtype).max)
    elif samples.dtype.kind == "u":  # 8-bit WAV is unsigned around 128
        samples = (samples.astype(np.float64) - 128.0) / 128.0
    samples = np.asarray(samples, dtype=np.float32)
    return (samples.mean(axis=1) if samples.ndim == 2 else samples), int(rate)


def mel_filterbank(n_mels: int, n_fft: int, rate: int) -> np.ndarray:
    """Triangular filters [n_mels, n_fft // 2 + 1] equally spaced on the mel scale (HTK formula)."""

    def mel(hz: np.ndarray) -> np.ndarray:
        return 1127.0 * np.log1p(hz / 700.0)

    edges_mel = np.linspace(mel(np.array(20.0)), mel(np.array(rate / 2)), n_mels + 2)
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    bins_mel = mel(bins)
    low, centre, high = edges_mel[:-2, None], edges_mel[1:-1, None], edges_mel[2:, None]
    rising = (bins_mel[None] - low) / (centre - low)
    falling = (high - bins_mel[None]) / (high - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def fbank(samples: np.ndarray, rate: int, n_mels: int = N_MELS) -> np.ndarray:
    """Log mel filterbank energies, float32 [frames, n_mels], 25 ms Hamming windows every 10 ms."""
    window, hop = round(WINDOW_S * rate), round(HOP_S * rate)
    if len(samples) < window:
        raise ValueError(
            f"audio of {len(samples)} samples is shorter than one {WINDOW_S * 1000:.0f} ms window"
        )
    emphasized = np.append(samples[0], samples[1:] - 0.97 * samples[:-1])  # pre-emphasis, as Kaldi
    count = 1 + (len(emphasized) - window) // hop
    frames = np.lib.stride_tricks.sliding_window_view(emphasized, window)[::hop][:count]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hamming(window)
    n_fft = 1 << (window - 1).bit_length()
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2
    energies = power @ mel_filterbank(n_mels, n_fft, rate).T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps)).astype(np.float32)


def opensmile_lld(samples: np.ndarray, rate: int, name: str) -> np.ndarray:
    """eGeMAPSv02 LLDs (25) or ComParE_2016 LLDs and deltas (130) every 10 ms, via openSMILE."""
    try:
        import opensmile
    except ImportError:
        raise RuntimeError(f"feature {name} needs openSMILE: pip install {OPENSMILE_REQUIREMENT}") from None
    if name == "egemaps":
        sets = [(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors)]
    else:
        sets = [
            (opensmile.FeatureSet.ComParE_2016, opensmile.FeatureLevel.LowLevelDescriptors),
            (opensmile.FeatureSet.ComParE_2016, opensmile.FeatureLevel.LowLevelDescriptors_Deltas),
        ]
    parts = []
    for feature_set, level in sets:
        smile = opensmile.Smile(feature_set=feature_set, feature_level=level)
        parts.append(smile.process_signal(samples, rate).to_numpy(dtype=np.float32))
    rows = min(len(part) for part in parts)
    return np.concatenate([part[:rows] for part in parts], axis=1)


def to_video_rate(features: np.ndarray, n_frames: int, fps: float, hop_s: float = HOP_S) -> np.ndarray:
    """Average the 10 ms frames that fall in each video frame's span ``[t / fps, (t + 1) / fps)``;
    a video frame without one (beyond the audio's end) takes the nearest audio frame."""
    centres = (np.arange(len(features)) + 0.5) * hop_s
    owner = np.floor(centres * fps).astype(np.int64)  # video frame each audio frame falls in
    inside = owner < n_frames
    sums = np.zeros((n_frames, features.shape[1]), dtype=np.float64)
    np.add.at(sums, owner[inside], features[inside])
    counts = np.bincount(owner[inside], minlength=n_frames)[:n_frames]
    out = sums / np.maximum(counts, 1)[:, None]
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        nearest = np.clip(
            np.round(((empty + 0.5) / fps) / hop_s - 0.5).astype(np.int64), 0, len(features) - 1
        )
        out[empty] = features[nearest]
    return out.astype(np.float32)


def featurize_audio(path: Path, names: tuple[str, ...], n_frames: int, fps: float) -> dict[str, np.ndarray]:
    """Features ``names`` (of fbank, egemaps, compare) of a WAV file, each float32 [n_frames, dim]."""
    samples, rate = read_wav(path)
    out = {}
    for name in names:
        if name == "fbank":
            raw = fbank(samples, rate)
        elif name in ("egemaps", "compare"):
            raw = opensmile_lld(samples, rate, name)
        else:
            raise ValueError(f"feature {name} is not computed here (deep features are precomputed inputs)")
        if raw.shape[1] != dim(name):
            raise ValueError(f"{name}: computed {raw.shape[1]} columns, the paper's width is {dim(name)}")
        out[name] = to_video_rate(raw, n_frames, fps)
    return out


def add_audio_features(root: Path, video: str, wav: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """Featurize a video's audio track (a WAV file) into the dataset ``root`` at the video's frame
    rate, and declare the features in ``dataset.json``; the written files by feature name.

    Every video needs the feature before training reads it (validation reports the missing ones).
    """
    videos = read_videos(root).set_index("video_id")
    if video not in videos.index:
        raise ValueError(f"video {video!r} is not in {root}/{VIDEOS_FILE}")
    row = videos.loc[video]
    written = {}
    for name, values in featurize_audio(wav, names, int(row["n_frames"]), float(row["fps"])).items():
        path = feature_path(root, name, video)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, values)
        written[name] = path
    meta_path = Path(root) / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["features"] = {**meta.get("features", {}), **{name: dim(name) for name in names}}
    meta_path.write_text(json.dumps(meta, indent=2))
    return written
