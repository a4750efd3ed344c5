"""Audio features per video frame (paper §3.2.2): fbank computed here, openSMILE's sets where installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from models.expression.audio import (
    add_audio_features,
    fbank,
    featurize_audio,
    mel_filterbank,
    read_wav,
    to_video_rate,
)
from models.expression.dataset import VideoStore, read_meta, read_videos
from models.expression.synth import SynthConfig, synthesize

pytestmark = pytest.mark.unit

RATE = 16_000


@pytest.fixture(scope="module")
def real_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real recorded voice (Debian alsa-utils' Front_Center.wav, 48 kHz), fetched, never committed."""
    folder = tmp_path_factory.mktemp("alsa")
    try:
        subprocess.run(
            ["apt-get", "download", "alsa-utils"], cwd=folder, check=True, capture_output=True, timeout=120
        )
        (deb,) = folder.glob("alsa-utils_*.deb")
        subprocess.run(
            ["dpkg-deb", "-x", str(deb), str(folder / "x")], check=True, capture_output=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        pytest.skip(f"alsa-utils cannot be fetched here: {err}")
    return folder / "x" / "usr/share/sounds/alsa/Front_Center.wav"


def test_fbank_of_a_tone_peaks_in_the_tone_band(tmp_path: Path) -> None:
    t = np.arange(RATE) / RATE  # 1 s
    path = tmp_path / "tone.wav"
    wavfile.write(path, RATE, (0.5 * np.sin(2 * np.pi * 1000.0 * t) * 32767).astype(np.int16))
    samples, rate = read_wav(path)
    assert rate == RATE and abs(samples.max() - 0.5) < 1e-3
    features = fbank(samples, rate)
    assert features.shape == (1 + (RATE - 400) // 160, 80) and features.dtype == np.float32
    filters = mel_filterbank(80, 512, RATE)
    peak_band = int(np.argmax(filters[:, round(1000 / (RATE / 512))]))  # the band whose centre is ~1 kHz
    assert abs(int(np.median(features.argmax(axis=1))) - peak_band) <= 1


def test_audio_frames_are_averaged_per_video_frame() -> None:
    features = np.arange(10, dtype=np.float32)[:, None]  # 10 frames of 10 ms: centres 5, 15, ... 95 ms
    # at 25 fps a video frame spans 40 ms: frames 0-3, 4-7, 8-9, then nothing (nearest: frame 9)
    out = to_video_rate(features, 4, 25.0)
    np.testing.assert_allclose(out[:, 0], [1.5, 5.5, 8.5, 9.0])


def test_real_recording_featurizes_at_the_video_rate(real_wav: Path) -> None:
    samples, rate = read_wav(real_wav)
    n_frames = int(len(samples) / rate * 30)  # the clip's length at 30 fps
    out = featurize_audio(real_wav, ("fbank",), n_frames, 30.0)
    assert out["fbank"].shape == (n_frames, 80) and np.isfinite(out["fbank"]).all()
    # speech is not silence: the band energies vary over time
    assert out["fbank"].std(axis=0).mean() > 0.5


def test_deep_features_are_not_computed_here(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    wavfile.write(path, RATE, np.zeros(RATE // 10, dtype=np.int16))
    with pytest.raises(ValueError, match="wav2vec is not computed here"):
        featurize_audio(path, ("wav2vec",), 3, 30.0)


def test_opensmile_sets_have_the_paper_widths(real_wav: Path) -> None:
    pytest.importorskip("opensmile", reason="opensmile==2.6.0 is not installed")
    out = featurize_audio(real_wav, ("egemaps", "compare"), 40, 30.0)
    assert out["egemaps"].shape == (40, 25) and out["compare"].shape == (40, 130)


def test_a_recording_joins_a_dataset_as_a_new_feature(real_wav: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    synthesize(SynthConfig(videos=2, frames=(40, 60), features=("mae",)), root)
    video = read_videos(root).iloc[0]
    written = add_audio_features(root, video.video_id, real_wav, ("fbank",))
    assert np.load(written["fbank"]).shape == (video.n_frames, 80)
    assert read_meta(root)["features"] == {"mae": 768, "fbank": 80}
    window = VideoStore(root, ("mae", "fbank")).window(video.video_id, 0, int(video.n_frames))
    assert window.shape == (video.n_frames, 768 + 80)
    with pytest.raises(ValueError, match="video 'nope' is not in"):
        add_audio_features(root, "nope", real_wav, ("fbank",))
