"""WAV uploads through the family's media preprocessor, and the validation gate on broken datasets."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile

from models.audio_emotion.dataset import PARTITIONS_FILE
from models.audio_emotion.media import MEDIA, load
from models.audio_emotion.spectrogram import decode_wav, spectrogram
from models.common.media import MediaError

pytestmark = pytest.mark.unit


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16))
    return buffer.getvalue()


def _request(data: bytes) -> dict[str, np.ndarray]:
    return {"audio": np.array([data], dtype=object)}


def _speech(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))


def test_a_wav_upload_becomes_the_spectrogram_the_dataset_would_have(emotion_data: Path) -> None:
    wav = next((emotion_data / "AudioWAV").glob("*.wav"))
    out = load(None)(_request(wav.read_bytes()), {})
    np.testing.assert_array_equal(out["spectrogram"], spectrogram(decode_wav(str(wav))))
    assert MEDIA.tensors == ("spectrogram",)
    with pytest.raises(ValueError, match="takes no weights"):
        load(Path("weights.pt"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not audio at all", "not a usable WAV file"),
        (_wav(_speech(1.0, 16_000), 16_000)[:-8000], "not a usable WAV file"),  # truncated data chunk
        (_wav(_speech(1.0, 1_000), 1_000), "sample rate 1000 Hz is outside"),
        (_wav(_speech(31.0, 8_000), 8_000), "31.00 s of audio"),
        (_wav(_speech(0.1, 16_000), 16_000), "0.10 s of audio"),
        (_wav(np.zeros(16_000), 16_000), "silence"),
    ],
    ids=["not-audio", "truncated", "absurd-rate", "too-long", "too-short", "silence"],
)
def test_hostile_uploads_are_refused_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message) as caught:
        load(None)(_request(data), {})
    assert caught.value.field == "audio"


def test_the_validation_gate_names_each_broken_part(emotion_data: Path, tmp_path: Path) -> None:
    from components.validate import validate_cohort

    root = tmp_path / "broken"
    shutil.copytree(emotion_data, root)
    wavs = sorted((root / "AudioWAV").glob("*.wav"))
    wavs[0].write_bytes(b"RIFF garbage")
    wavfile.write(wavs[1], 16_000, np.zeros(16_000, np.int16))
    wavs[2].rename(wavs[2].with_name(wavs[2].name.replace("_ANG_", "_XYZ_")))
    partitions = pd.read_parquet(root / PARTITIONS_FILE)
    moved = partitions.iloc[[0]].assign(partition="S4" if partitions["partition"].iloc[0] != "S4" else "S3")
    pd.concat([partitions, moved]).to_parquet(root / PARTITIONS_FILE, index=False)
    report = validate_cohort(root, docs_dir=None, family="audio_emotion")
    why = " | ".join(f.describe() for f in report.failures)
    assert not report.success
    for expected in (
        "every clip is a readable WAV file",
        "a clip is not silent",
        "a clip's emotion code is one its corpus defines",
        "a speaker is in exactly one partition",
        "an actor is listed once",
    ):
        assert expected in why, why
