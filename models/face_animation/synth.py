"""A **synthetic** talking-face dataset in the VoxCeleb2 layout (dataset.py), frozen before any training.

- Speech is real synthesis made offline: espeak-ng, one voice + variant + base pitch and rate per
  speaker; each video has one emotion, spoken with that emotion's prosody (rate, pitch, amplitude
  multipliers below) over random English words.
- Landmarks: a 68-point mean face (landmarks.template) with a per-speaker shape. The mouth opening
  follows the speech: the inner-lip gap is the utterance's 40 ms RMS level (dB under its peak,
  mapped to 0-1) times the emotion's and the speaker's mouth gains; the emotion adds its planted
  expression (smile, frown, brows). A slow random head pose (yaw / pitch / roll, shift) moves the
  3D points, which ICP alignment (§3.1) has to undo.
- Frames are drawn from the posed landmarks (render.face_frame) and written as MPEG-4 video.

The constants were fixed before any model was trained on the data (never tuned to model scores);
``oracle.py`` checks without a model that the mouth motion is predictable from the audio.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import soundfile

from models.face_animation.audio import frame_energy, resample
from models.face_animation.dataset import (
    FPS,
    PARTITIONS,
    SAMPLE_RATE,
    audio_path,
    landmarks_path,
    read_audio,
    utterance_key,
    video_path,
    write_meta,
    write_utterances,
)
from models.face_animation.landmarks import CANVAS, template
from models.face_animation.landmarks import rotation as head_rotation
from models.face_animation.render import face_frame

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5")
# emotion -> (rate, pitch, amplitude) multipliers of the speaker's prosody, mouth gain, expression
EMOTIONS: dict[str, dict] = {
    "neutral": {"rate": 1.0, "pitch": 1.0, "amplitude": 1.0, "mouth": 1.0, "smile": 0.0, "brow": 0.0},
    "happy": {"rate": 1.15, "pitch": 1.35, "amplitude": 1.2, "mouth": 1.35, "smile": 1.0, "brow": 0.3},
    "sad": {"rate": 0.8, "pitch": 0.7, "amplitude": 0.7, "mouth": 0.6, "smile": -0.8, "brow": 0.8},
    "angry": {"rate": 1.1, "pitch": 0.9, "amplitude": 1.4, "mouth": 1.2, "smile": -0.2, "brow": -1.0},
}
WORDS = (
    "apple",
    "river",
    "window",
    "mountain",
    "paper",
    "garden",
    "music",
    "yellow",
    "table",
    "morning",
    "silver",
    "doctor",
    "animal",
    "butter",
    "family",
    "pocket",
    "summer",
    "water",
    "teacher",
    "number",
    "orange",
    "planet",
    "rabbit",
    "island",
    "bottle",
    "market",
    "people",
    "moment",
    "happy",
    "purple",
    "wonder",
    "evening",
    "mirror",
    "basket",
    "letter",
    "forest",
    "camera",
    "pencil",
)
MAX_OPENING = 14.0  # inner-lip gap at full level, 256² pixels
LEVEL_RANGE_DB = 36.0  # dB under the utterance's peak that map to a closed mouth


@dataclass(frozen=True)
class SynthConfig:
    """Defaults: VoxCeleb2's speaker counts (5,994 dev / 118 test, NOTES §2.4); the CPU scale is set
    by ``tiny()`` or overrides. Every speaker has ``videos`` videos of ``utterances`` utterances."""

    dev_speakers: int = 5994
    test_speakers: int = 118
    videos: int = 3
    utterances: int = 2
    words: tuple[int, int] = (3, 6)
    frame_size: int = 256  # the paper's 256² (NOTES §2.1)
    seed: int = 0
    emotions: tuple[str, ...] = field(default_factory=lambda: tuple(EMOTIONS))


def _espeak(text: str, voice: str, rate: int, pitch: int, amplitude: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        command = ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-a", str(amplitude)]
        subprocess.run([*command, "-w", str(wav), text], check=True, capture_output=True)
        samples, rate_hz = read_audio(wav)
    return resample(samples, rate_hz)


def draw_speaker(rng: np.random.Generator, index: int) -> dict:
    offsets = rng.normal(0, 2.0, size=(68, 3))
    offsets[:, 2] = 0
    return {
        "voice": f"{VOICES[index % len(VOICES)]}+{VARIANTS[(index // len(VOICES)) % len(VARIANTS)]}",
        "pitch": int(rng.integers(30, 70)),
        "rate": int(rng.integers(140, 180)),
        "amplitude": int(rng.integers(80, 120)),
        "width": float(rng.uniform(0.92, 1.08)),
        "offsets": offsets,
        "mouth": float(rng.uniform(0.8, 1.2)),  # the speaker's own talking style
        "skin": tuple(int(c) for c in rng.integers(120, 230, size=3)),
    }


def mouth_opening(samples: np.ndarray, n_frames: int) -> np.ndarray:
    """0-1 per video frame: the 40 ms level in dB under the utterance's peak, over LEVEL_RANGE_DB and
    squared (loud vowels open the mouth most), smoothed over 3 frames (jaw inertia)."""
    level = frame_energy(samples, n_frames)
    opening = np.clip((level - (level.max() - LEVEL_RANGE_DB)) / LEVEL_RANGE_DB, 0, 1) ** 2
    return np.convolve(np.pad(opening, 1, mode="edge"), np.ones(3) / 3, mode="valid")


def face_track(speaker: dict, emotion: dict, intensity: float, opening: np.ndarray, rng) -> np.ndarray:
    """Posed 3D landmarks float32 [T, 68, 3] in 256² pixels for one utterance."""
    face = template()
    face[:, 0] = 128 + (face[:, 0] - 128) * speaker["width"]
    face = face + speaker["offsets"]
    smile, brow = emotion["smile"] * intensity, emotion["brow"] * intensity
    face[[48, 60], 0] -= 4 * max(smile, 0)  # corners out when smiling
    face[[54, 64], 0] += 4 * max(smile, 0)
    face[[48, 54, 60, 64], 1] -= 5 * smile  # corners up (smile) or down (frown)
    face[[19, 20, 21, 22, 23, 24], 1] -= 5 * brow  # inner brows up (sad) or down (angry)
    face[[21, 22], 0] += np.array([3.0, -3.0]) * min(brow, 0) * -1  # angry: brows drawn together
    gap = MAX_OPENING * emotion["mouth"] * speaker["mouth"] * intensity**0.5 * opening
    frames = np.repeat(face[None], len(opening), axis=0)
    frames[:, 65:68, 1] += gap[:, None]  # lower inner lip
    frames[:, 55:60, 1] += 0.9 * gap[:, None]  # lower outer lip
    frames[:, 61:64, 1] -= 0.1 * gap[:, None]  # upper inner lip
    chin = np.exp(-(((np.arange(17) - 8) / 3.0) ** 2))  # the jaw drops most at the chin
    frames[:, 0:17, 1] += 0.5 * gap[:, None] * chin[None]
    frames[:, [48, 54, 60, 64], 0] += np.array([1, -1, 1, -1]) * 0.15 * gap[:, None]  # rounding
    # a slow random head pose (random walk, smoothed) about the face's centre
    steps = rng.normal(0, 1, size=(len(opening) + 12, 5))
    walk = np.cumsum(steps, axis=0)
    walk = np.stack([np.convolve(w, np.ones(12) / 12, mode="valid")[: len(opening)] for w in walk.T], 1)
    walk = walk / (np.abs(walk).max(axis=0, keepdims=True) + 1e-9)
    centre = np.array([128.0, 140.0, 0.0])
    for t in range(len(frames)):
        yaw, pitch, roll = np.radians(walk[t, :3] * np.array([8.0, 6.0, 5.0]))
        shift = np.array([walk[t, 3] * 6, walk[t, 4] * 6, 0.0])
        frames[t] = (frames[t] - centre) @ head_rotation(yaw, pitch, roll).T + centre + shift
    return frames.astype(np.float32)


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    size = frames[0].shape[1], frames[0].shape[0]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MPEG-4 video to {path}")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def synthesize(config: SynthConfig, out: Path) -> Path:
    """Write the synthetic dataset into the empty directory ``out``; deterministic for ``config.seed``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    root = np.random.SeedSequence(config.seed)
    counts = dict(zip(PARTITIONS, (config.dev_speakers, config.test_speakers), strict=True))
    n_speakers = sum(counts.values())
    partitions = [p for p in PARTITIONS for _ in range(counts[p])]
    rows = []
    for index, (child, partition) in enumerate(zip(root.spawn(n_speakers), partitions, strict=True)):
        rng = np.random.default_rng(child)
        speaker = draw_speaker(rng, index)
        speaker_id = f"id{10000 + index:05d}"
        emotions = rng.permutation(
            np.resize(np.array(config.emotions), max(config.videos, len(config.emotions)))
        )
        for v in range(config.videos):
            video_id = "".join(
                rng.choice(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), 11)
            )
            emotion_name = str(emotions[v])
            emotion = EMOTIONS[emotion_name]
            intensity = float(rng.uniform(0.7, 1.3))
            background = tuple(int(c) for c in rng.integers(20, 120, size=3))
            for u in range(config.utterances):
                text = " ".join(rng.choice(WORDS, int(rng.integers(config.words[0], config.words[1] + 1))))
                samples = _espeak(
                    text,
                    speaker["voice"],
                    int(speaker["rate"] * emotion["rate"]),
                    int(np.clip(speaker["pitch"] * emotion["pitch"], 0, 99)),
                    int(speaker["amplitude"] * emotion["amplitude"]),
                )
                n_frames = int(len(samples) / SAMPLE_RATE * FPS)
                samples = samples[: round(n_frames * SAMPLE_RATE / FPS)]
                track = face_track(speaker, emotion, intensity, mouth_opening(samples, n_frames), rng)
                scale = config.frame_size / CANVAS
                key = utterance_key(speaker_id, video_id, f"{u + 1:05d}")
                frames = [face_frame(f[:, :2], config.frame_size, speaker["skin"], background) for f in track]
                _write_video(video_path(out, partition, key), frames)
                audio_path(out, partition, key).parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(str(audio_path(out, partition, key)), samples, SAMPLE_RATE, subtype="PCM_16")
                landmarks_path(out, partition, key).parent.mkdir(parents=True, exist_ok=True)
                np.save(landmarks_path(out, partition, key), (track * scale).astype(np.float32))
                rows.append(
                    {
                        "utterance_key": key,
                        "speaker_id": speaker_id,
                        "video_id": video_id,
                        "utterance_id": f"{u + 1:05d}",
                        "partition": partition,
                        "emotion": emotion_name,
                        "n_frames": n_frames,
                        "duration_s": len(samples) / SAMPLE_RATE,
                    }
                )
    write_utterances(out, pd.DataFrame(rows))
    write_meta(
        out,
        {
            "layout": "voxceleb2",
            "fps": FPS,
            "sample_rate": SAMPLE_RATE,
            "frame_size": config.frame_size,
            "provenance": {
                "synthetic": True,
                "generator": "models/face_animation/synth.py",
                "speech": "espeak-ng",
                "seed": config.seed,
            },
        },
    )
    return out
