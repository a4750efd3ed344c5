"""SYNTHETIC datasets in the corpus layouts (dataset.py): espeak-ng actors speaking with emotional
prosody, rendered faces showing the same emotions. Labelled ``"synthetic": true`` in dataset.json.

Speech: every actor is an espeak-ng voice (a language voice with a male or female variant, its own
base pitch and rate); every emotion is a prosody preset (rate, pitch, amplitude, word gap) plus a
voice quality applied to the waveform (breathy noise, tense clipping, tremor, creak), scaled by the
clip's intensity. Faces: faces.py's FACS prototypes; each clip's paired frame shows its actor's
face with the clip's emotion, the IFER folder holds other identities. Speech and faces therefore
share the class structure the paper assumes (§1), and nothing else: a model can only transfer
emotion between them. The presets were frozen after the oracle check (oracle.py) and before any
model was trained on them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.io import wavfile

from models.audio_emotion import corpus as c
from models.audio_emotion.dataset import CREMA_DIR, FRAMES_DIR, IFER_DIR, IMAGE_SUFFIX, write_meta
from models.audio_emotion.faces import Identity, render
from models.audio_emotion.spectrogram import Audio, resample
from models.audio_emotion.split import partition

SENTENCES = {  # CREMA-D's 12 sentences, by code
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
STATEMENTS = {1: "Kids are talking by the door.", 2: "Dogs are sitting by the door."}  # RAVDESS
NATIVE_RATE = {c.CREMA_D: 16_000, c.RAVDESS: 48_000}
LANGUAGES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")


@dataclass(frozen=True)
class Prosody:
    rate: float  # x the actor's words per minute
    pitch: float  # + the actor's espeak pitch (0-99)
    amplitude: float  # espeak amplitude (0-200)
    gap: float  # pause between words, 10 ms units
    quality: str  # modal | breathy | tense | tremor | creaky


PRESETS: dict[str, Prosody] = {
    "neutral": Prosody(1.0, 0, 100, 0, "modal"),
    "calm": Prosody(0.85, -6, 80, 1, "modal"),
    "happy": Prosody(1.15, 16, 130, 0, "modal"),
    "sad": Prosody(0.72, -14, 70, 3, "breathy"),
    "angry": Prosody(1.2, 6, 180, 0, "tense"),
    "fearful": Prosody(1.3, 22, 95, 1, "tremor"),
    "disgust": Prosody(0.85, -8, 110, 2, "creaky"),
    "surprised": Prosody(1.05, 28, 140, 0, "modal"),
}
SONG = Prosody(0.7, 10, 0, 2, "modal")  # RAVDESS song: slower, higher, sustained (added to the preset)
INTENSITY = {"LO": 0.5, "MD": 0.75, "HI": 1.0, "XX": 0.85, "normal": 0.7, "strong": 1.0}


@dataclass(frozen=True)
class SynthConfig:
    """Defaults: the paper's corpus scale, CREMA-D (91 actors, 12 sentences; IEO at 4 levels)."""

    corpus: str = c.CREMA_D
    actors: int = 91
    sentences: int = 12  # CREMA-D: the first n sentence codes
    statements: int = 2  # RAVDESS
    repetitions: int = 2  # RAVDESS
    song: bool = True  # RAVDESS: song clips too (the paper's 2452 trials are speech + song)
    ifer_identities: int = 40
    ifer_per_class: int = 300
    seed: int = 0


@dataclass(frozen=True)
class Actor:
    number: int
    voice: str  # espeak-ng voice name with variant
    pitch: float
    rate: float
    gender: str
    face: Identity


def actors(config: SynthConfig, rng: np.random.Generator) -> list[Actor]:
    first = 1001 if config.corpus == c.CREMA_D else 1
    out = []
    for k in range(config.actors):
        number = first + k
        male = number % 2 == 1  # RAVDESS: odd actors male; CREMA-D alternates too
        variants = MALE_VARIANTS if male else FEMALE_VARIANTS
        voice = f"{LANGUAGES[k % len(LANGUAGES)]}+{variants[k % len(variants)]}"
        out.append(
            Actor(
                number,
                voice,
                float(rng.uniform(35, 60)),
                float(rng.uniform(155, 190)),
                "male" if male else "female",
                Identity.sample(rng),
            )
        )
    return out


def voice_quality(samples: np.ndarray, rate: int, quality: str, strength: float, rng) -> np.ndarray:
    """The waveform with a voice quality: breathy (noise following the envelope), tense (soft clipping),
    tremor (6 Hz amplitude modulation), creaky (35 Hz pulsing); modal leaves it as it is."""
    t = np.arange(len(samples)) / rate
    if quality == "breathy":
        envelope = np.convolve(np.abs(samples), np.ones(rate // 100) / (rate // 100), mode="same")
        return samples + 0.8 * strength * envelope * rng.standard_normal(len(samples))
    if quality == "tense":
        drive = 1 + 4 * strength
        return np.tanh(drive * samples) / np.tanh(drive)
    if quality == "tremor":
        return samples * (1 - 0.35 * strength * (0.5 + 0.5 * np.sin(2 * np.pi * 6 * t)))
    if quality == "creaky":
        return samples * (1 - 0.5 * strength * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 35 * t))))
    return samples


def speak(
    actor: Actor, text: str, prosody: Prosody, strength: float, rate: int, rng, workdir: Path
) -> np.ndarray:
    """One utterance by ``actor`` with ``prosody`` at ``strength`` (0-1 of the way from neutral)."""
    neutral = PRESETS["neutral"]

    def mix(field: str) -> float:
        return getattr(neutral, field) + strength * (getattr(prosody, field) - getattr(neutral, field))

    wpm = actor.rate * mix("rate") * rng.uniform(0.95, 1.05)
    pitch = np.clip(actor.pitch + mix("pitch") + rng.normal(0, 2), 0, 99)
    wav = workdir / "utterance.wav"
    command = ["espeak-ng", "-v", actor.voice, "-s", str(round(wpm)), "-p", str(round(pitch))]
    command += ["-a", str(round(mix("amplitude"))), "-g", str(round(mix("gap"))), "-w", str(wav), text]
    subprocess.run(command, check=True, capture_output=True)
    native, samples = wavfile.read(wav)
    audio = resample(Audio(samples.astype(np.float32) / 32768.0, native), rate)
    audio = voice_quality(audio, rate, prosody.quality, strength, rng)
    return np.clip(audio, -1.0, 1.0)


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, (samples * 32767).astype(np.int16))


def _write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def _clips(config: SynthConfig) -> list[tuple[str, str, str, float, Prosody | None]]:
    """(stem without actor, text, emotion, intensity, song prosody or None) per clip of one actor."""
    out = []
    if config.corpus == c.CREMA_D:
        for code in c.CREMA_SENTENCES[: config.sentences]:
            for emotion in c.CLASSES[c.CREMA_D]:
                # CREMA-D: IEO at three levels (neutral unspecified), the others unspecified
                levels = ("LO", "MD", "HI") if code == "IEO" and emotion != "neutral" else ("XX",)
                out += [(f"{code}|{level}", SENTENCES[code], emotion, level, None) for level in levels]
        return out
    channels = ("speech", "song") if config.song else ("speech",)
    for channel in channels:
        emotions = c.CLASSES[c.RAVDESS] if channel == "speech" else c.RAVDESS_SONG_CLASSES
        for emotion in emotions:
            for intensity in ("normal",) if emotion == "neutral" else ("normal", "strong"):
                for statement in range(1, config.statements + 1):
                    for repetition in range(1, config.repetitions + 1):
                        key = f"{channel}|{intensity}|{statement}|{repetition}"
                        out.append(
                            (
                                key,
                                STATEMENTS[statement],
                                emotion,
                                intensity,
                                SONG if channel == "song" else None,
                            )
                        )
    return out


def _stem(config: SynthConfig, actor: Actor, key: str, emotion: str) -> str:
    if config.corpus == c.CREMA_D:
        code, level = key.split("|")
        return c.crema_stem(actor.number, code, emotion, level)
    channel, intensity, statement, repetition = key.split("|")
    return c.ravdess_stem(actor.number, channel, emotion, intensity, int(statement), int(repetition))


def synthesize(config: SynthConfig, out: Path) -> Path:
    """Write a synthetic dataset (audio, paired frames, IFER images, S1-S4 partitions) into ``out``."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng; `make install` does it)")
    if config.corpus not in c.CORPORA:
        raise ValueError(f"corpus {config.corpus!r}: not one of {', '.join(c.CORPORA)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    rate = NATIVE_RATE[config.corpus]
    cast = actors(config, rng)
    with tempfile.TemporaryDirectory() as tmp:
        for actor in cast:
            folder = out / (CREMA_DIR if config.corpus == c.CREMA_D else f"Actor_{actor.number:02d}")
            for key, text, emotion, intensity, song in _clips(config):
                strength = INTENSITY[intensity]
                prosody = PRESETS[emotion]
                if song is not None:
                    prosody = Prosody(
                        prosody.rate * song.rate,
                        prosody.pitch + song.pitch,
                        prosody.amplitude,
                        prosody.gap + song.gap,
                        prosody.quality,
                    )
                stem = _stem(config, actor, key, emotion)
                _write_wav(
                    folder / f"{stem}.wav", speak(actor, text, prosody, strength, rate, rng, Path(tmp)), rate
                )
                _write_image(
                    out / FRAMES_DIR / f"{stem}{IMAGE_SUFFIX}", render(actor.face, emotion, strength, rng)
                )
    people = [Identity.sample(rng) for _ in range(config.ifer_identities)]
    for emotion in c.CLASSES[config.corpus]:
        for k in range(config.ifer_per_class):
            face = render(people[k % len(people)], emotion, float(rng.uniform(0.6, 1.0)), rng)
            _write_image(out / IFER_DIR / emotion / f"{emotion}_{k:05d}{IMAGE_SUFFIX}", face)
    write_meta(out, config.corpus, synthetic=True)
    partition(out, config.seed)
    return out
