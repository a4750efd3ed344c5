"""The audio-emotion data layer: file conventions, the spectrogram, the synthetic generator, S1-S4."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from models.audio_emotion import corpus
from models.audio_emotion.dataset import PARTITIONS, clips, read_meta
from models.audio_emotion.expectations import tables
from models.audio_emotion.oracle import separability
from models.audio_emotion.spectrogram import SHAPE, Audio, AudioError, decode_wav, mel_matrix, spectrogram
from models.audio_emotion.split import assign

pytestmark = pytest.mark.unit


def test_file_names_follow_each_corpus_convention() -> None:
    crema = corpus.parse(corpus.CREMA_D, "1023_DFA_ANG_HI")
    assert (crema.actor, crema.emotion, crema.intensity, crema.sentence) == ("1023", "angry", "HI", "DFA")
    assert corpus.parse(corpus.CREMA_D, "1023_DFA_XYZ_HI").emotion is None  # unknown code, kept as code
    assert corpus.parse(corpus.CREMA_D, "1023-DFA-ANG-HI") is None
    song = corpus.parse(corpus.RAVDESS, "03-02-06-02-01-02-17")
    assert (song.actor, song.channel, song.emotion, song.intensity) == ("17", "song", "fearful", "strong")
    assert corpus.parse(corpus.RAVDESS, "03-01-09-01-01-01-02").emotion is None
    assert corpus.gender(corpus.RAVDESS, "17") == "male" and corpus.gender(corpus.RAVDESS, "18") == "female"
    assert corpus.crema_stem(1001, "IEO", "sad", "LO") == "1001_IEO_SAD_LO"
    assert corpus.ravdess_stem(3, "song", "calm", "normal", 2, 1) == "03-02-02-01-02-01-03"


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, (samples * 32767).astype(np.int16))
    return buffer.getvalue()


def test_the_spectrogram_is_156_by_64_log_mel_at_any_sample_rate() -> None:
    t16, t48 = np.arange(16_000) / 16_000, np.arange(48_000) / 48_000
    tone16 = decode_wav(_wav(0.5 * np.sin(2 * np.pi * 1000 * t16), 16_000))
    tone48 = decode_wav(_wav(0.5 * np.sin(2 * np.pi * 1000 * t48), 48_000))
    a, b = spectrogram(tone16), spectrogram(tone48)
    assert a.shape == b.shape == SHAPE and a.dtype == np.float32
    band = int(mel_matrix()[round(1000 / 8000 * 256)].argmax())  # the band whose filter peaks at 1 kHz
    assert abs(int(a.mean(0).argmax()) - band) <= 1
    np.testing.assert_allclose(a, b, atol=0.15)  # resampled to 16 kHz first


def test_undecodable_and_too_short_audio_is_refused_by_name() -> None:
    with pytest.raises(AudioError, match="not a readable WAV"):
        decode_wav(b"RIFF not really a wave")
    with pytest.raises(AudioError, match="shorter than one 400-sample window"):
        spectrogram(Audio(np.zeros(100, np.float32), 16_000))


def test_partitions_are_speaker_disjoint_seeded_and_balanced() -> None:
    import pandas as pd

    actors = pd.DataFrame({"actor": [f"{k:02d}" for k in range(1, 25)], "gender": ["m", "f"] * 12})
    one, again, other = assign(actors, 0), assign(actors, 0), assign(actors, 1)
    assert one.equals(again) and not one.equals(other)
    assert one["actor"].is_unique and set(one["partition"]) == set(PARTITIONS)
    per_gender = one.merge(actors, on="actor").groupby(["partition", "gender"]).size()
    assert (per_gender == 3).all()  # 12 per gender dealt into four partitions


def test_the_synthetic_dataset_is_labelled_and_in_the_crema_d_layout(emotion_data: Path) -> None:
    meta = read_meta(emotion_data)
    assert meta["synthetic"] is True and meta["corpus"] == corpus.CREMA_D
    table = clips(emotion_data)
    assert table["partition"].notna().all()
    assert table.groupby("actor")["partition"].nunique().max() == 1
    assert set(table["emotion"]) == set(corpus.CLASSES[corpus.CREMA_D])
    assert (emotion_data / "IFER" / "happy").is_dir()


def test_emotion_is_separable_without_a_model(emotion_data: Path) -> None:
    """The design check of the synthetic data (frozen after it): speaker-independent nearest-centroid
    accuracy well above chance on spectrograms and faces."""
    scores = separability(emotion_data)
    assert scores["audio_accuracy"] > 2.5 * scores["chance"], scores
    assert scores["face_accuracy"] > 2 * scores["chance"], scores


def test_a_ravdess_dataset_has_speech_and_song(tmp_path: Path) -> None:
    from models.audio_emotion.synth import SynthConfig, synthesize

    root = synthesize(
        SynthConfig(
            corpus=corpus.RAVDESS, actors=4, statements=1, repetitions=1, ifer_per_class=2, ifer_identities=2
        ),
        tmp_path / "ravdess",
    )
    table = clips(root)
    assert set(table["channel"]) == {"speech", "song"}
    assert set(table.loc[table["channel"] == "song", "emotion"]) == set(corpus.RAVDESS_SONG_CLASSES)
    assert set(table["gender"]) == {"male", "female"}
    assert {wavfile.read(root / p)[0] for p in table["path"][:3]} == {48_000}


def test_broken_clips_become_values_the_expectations_report(emotion_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "broken"
    shutil.copytree(emotion_data, root)
    wavs = sorted((root / "AudioWAV").glob("*.wav"))
    wavs[0].write_bytes(b"RIFF garbage")
    wavfile.write(wavs[1], 16_000, np.zeros(16_000, np.int16))  # silence
    wavs[2].rename(wavs[2].with_name(wavs[2].name.replace(wavs[2].stem.split("_")[2], "XYZ")))
    frame = tables(root)["clips"].set_index("clip")
    assert frame.loc[wavs[0].stem, "readable"] == False  # noqa: E712 - a pandas object column
    assert frame.loc[wavs[1].stem, "rms_dbfs"] < -50
    assert (~frame["emotion_known"]).sum() == 1
