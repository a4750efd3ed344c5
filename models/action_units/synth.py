"""A synthetic AU dataset (labelled synthetic) in the BP4D or DISFA layout of ``dataset.py``.

Generative model (constants in ``SynthConfig``):

* subjects carry the published fold lists' ids (so the paper's 3 folds apply), each its own
  ``render.Identity``; a subject's prior over expression prototypes is Dirichlet-drawn;
* a sequence is a run of episodes (geometric length, mean ``episode_frames``): an episode is
  neutral or one of ``PROTOTYPES`` (AU sets of basic expressions), each of its AUs present with
  probability ``prototype_keep``, plus spontaneous AUs at ``spontaneous_rate``: the AUs co-occur, so
  the relation matrix M (NOTES §1.5) is far from independence. Present AUs have intensity 2-5
  (positive); ``trace_rate`` adds intensity-1 AUs (negative, faintly drawn);
* each frame is drawn by ``render.render`` at its AUs' intensities / 5; landmarks are the drawn ones
  plus ``landmark_noise`` px (a detector's error);
* BP4D labels mark (frame, AU) pairs not coded (9) at ``uncoded_rate``; DISFA's intensity files are
  written for all 12 AUs DISFA codes;
* the unlabelled pool (EmotioNet-like) is ``pool_images`` faces of other identities.

Deterministic for a seed: each subject and the pool draw from their own ``SeedSequence`` child.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.action_units import render
from models.action_units.aus import ALL_AUS, DISFA_CODED_AUS, LAYOUT_AUS, LAYOUT_PARTS
from models.action_units.dataset import (
    IMAGES,
    LAYOUTS,
    NOT_CODED,
    POOL,
    bp4d_image,
    bp4d_label_path,
    disfa_image,
    landmarks_path,
    pool_path,
    write_bp4d_labels,
    write_disfa_labels,
    write_landmarks,
    write_meta,
)

# choice: AU sets of basic expressions and speech (FACS / EMFACS-like), the source of co-occurrence
PROTOTYPES: dict[str, tuple[int, ...]] = {
    "happiness": (6, 7, 10, 12, 25),
    "surprise": (1, 2, 25, 26),
    "sadness": (1, 4, 15, 17),
    "anger": (4, 7, 23, 24),
    "disgust": (9, 10, 17),
    "pain": (4, 6, 7, 9, 10),
    "speech": (25, 26),
    "dimpling": (12, 14),
}
JPEG_QUALITY = 95


@dataclass(frozen=True)
class SynthConfig:
    """Defaults are the paper's scale: BP4D's 41 subjects x 8 tasks, ~146,000 frames (§3.1), and
    EmotioNet's 950,000 pool images (§3.1), at 224 px."""

    layout: str = "bp4d"
    subjects_per_part: int | None = None  # None: every subject of the published parts
    tasks: int = 8  # BP4D's T1-T8 (DISFA: one video per subject)
    frames: int = 445  # per sequence: 146,000 / 328 BP4D videos (DISFA has ~4,845 per video)
    image_size: int = 224  # paper §3.1
    pool_images: int = 950_000  # paper §3.1: EmotioNet
    episode_frames: float = 30.0
    neutral_rate: float = 0.3
    prototype_keep: float = 0.85
    spontaneous_rate: float = 0.03
    trace_rate: float = 0.05
    uncoded_rate: float = 0.02
    landmark_noise: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.subjects_per_part is not None and self.subjects_per_part < 1:
            raise ValueError(f"subjects_per_part must be >= 1 or None, got {self.subjects_per_part}")
        if not 1 <= self.tasks <= 8:
            raise ValueError(f"tasks must be 1-8 (BP4D's T1-T8), got {self.tasks}")
        if self.frames < 1 or self.pool_images < 0:
            raise ValueError("frames must be >= 1 and pool_images >= 0")
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {self.image_size}")

    def subjects(self) -> list[str]:
        parts = LAYOUT_PARTS[self.layout]
        return [s for part in parts for s in part[: self.subjects_per_part]]


def _episodes(
    config: SynthConfig, rng: np.random.Generator, prior: np.ndarray, n: int
) -> list[dict[int, int]]:
    """Per frame: AU -> intensity 1-5 (absent AUs left out)."""
    names = list(PROTOTYPES)
    out: list[dict[int, int]] = []
    while len(out) < n:
        length = int(rng.geometric(1.0 / config.episode_frames))
        state: dict[int, int] = {}
        if rng.random() >= config.neutral_rate:
            for au in PROTOTYPES[names[rng.choice(len(names), p=prior)]]:
                if rng.random() < config.prototype_keep:
                    state[au] = int(rng.integers(2, 6))
        for au in ALL_AUS:
            if au not in state and rng.random() < config.spontaneous_rate:
                state[au] = int(rng.integers(2, 6))
            elif au not in state and rng.random() < config.trace_rate:
                state[au] = 1
        out += [state] * length
    return out[:n]


def _frames(config, rng, who, n) -> tuple[list[np.ndarray], np.ndarray, list[dict[int, int]]]:
    prior = rng.dirichlet(np.ones(len(PROTOTYPES)))
    states = _episodes(config, rng, prior, n)
    images, points = [], []
    for state in states:
        image, marks = render.render(who, {au: v / 5 for au, v in state.items()}, rng, config.image_size)
        images.append(image)
        points.append(marks + rng.normal(0.0, config.landmark_noise, marks.shape))
    return images, np.stack(points), states


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        Image.fromarray(image).save(path, quality=JPEG_QUALITY)
    else:
        Image.fromarray(image).save(path)


def _bp4d_subject(config: SynthConfig, out: Path, subject: str, rng: np.random.Generator) -> None:
    who = render.identity(rng)
    for t in range(1, config.tasks + 1):
        task = f"T{t}"
        images, points, states = _frames(config, rng, who, config.frames)
        start = int(rng.integers(1, 500))  # BP4D's coded frames start anywhere in the video
        frames = np.arange(start, start + config.frames)
        for frame, image in zip(frames, images, strict=True):
            _save(image, out / bp4d_image(subject, task, int(frame)))
        codes = {}
        for au in LAYOUT_AUS["bp4d"]:
            values = np.array([int(state.get(au, 0) >= 2) for state in states])
            values[rng.random(len(values)) < config.uncoded_rate] = NOT_CODED
            codes[au] = values
        write_bp4d_labels(bp4d_label_path(out, subject, task), frames, codes)
        write_landmarks(landmarks_path(out, f"{subject}_{task}"), frames, points)


def _disfa_subject(config: SynthConfig, out: Path, subject: str, rng: np.random.Generator) -> None:
    who = render.identity(rng)
    images, points, states = _frames(config, rng, who, config.frames)
    frames = np.arange(1, config.frames + 1)  # DISFA's label frames count from 1
    for frame, image in zip(frames, images, strict=True):
        _save(image, out / disfa_image(subject, int(frame)))
    intensity = {au: np.array([state.get(au, 0) for state in states]) for au in DISFA_CODED_AUS}
    write_disfa_labels(out, subject, frames, intensity)
    write_landmarks(landmarks_path(out, subject), frames, points)


def _pool(config: SynthConfig, out: Path, rng: np.random.Generator) -> None:
    names, points = [], []
    per_identity = 8
    for i in range(config.pool_images):
        if i % per_identity == 0:
            who = render.identity(rng)
            prior = rng.dirichlet(np.ones(len(PROTOTYPES)))
        (state,) = _episodes(config, rng, prior, 1)
        image, marks = render.render(who, {au: v / 5 for au, v in state.items()}, rng, config.image_size)
        name = f"pool{i:06d}"
        _save(image, out / POOL / IMAGES / f"{name}.jpg")
        names.append(name)
        points.append(marks + rng.normal(0.0, config.landmark_noise, marks.shape))
    if names:
        np.savez(pool_path(out), names=np.array(names), points=np.stack(points).astype(np.float32))


def synthesize(config: SynthConfig, out: Path) -> list[str]:
    """Write a dataset into the new directory ``out``; returns its subjects."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; a dataset is written into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    subjects = config.subjects()
    children = np.random.SeedSequence([config.seed, 1]).spawn(len(subjects) + 1)
    write = _bp4d_subject if config.layout == "bp4d" else _disfa_subject
    for subject, child in zip(subjects, children, strict=False):
        write(config, out, subject, np.random.default_rng(child))
    _pool(config, out, np.random.default_rng(children[-1]))
    provenance = {"synthetic": True, "generator": "models.action_units.synth", **asdict(config)}
    write_meta(out, config.layout, config.image_size, provenance)
    return subjects
