"""A synthetic expression dataset in the exact format of ``dataset.py``.

Generative model (constants in ``SynthConfig``), per video of one subject:

* labels: expression episodes whose class is drawn from ``class_prior`` and whose length is
  geometric with mean ``episode_frames`` (temporal persistence: expressions last seconds, not
  frames); runs of frames are annotated -1 at rate ``invalid_rate`` (Aff-Wild2's invalid frames);
* faces: runs of frames lose their face image at rate ``no_face_rate`` (paper §3.1's gaps);
* per feature ``f`` and frame ``t``: ``x_t = (s_f * P_f[y_t] + u_f + n_t) @ M_f + N(0, obs_std^2)``
  with ``P_f`` a per-feature class prototype in a ``latent_dim`` latent space, ``s_f`` the
  feature's share of the class signal (``visual_signal`` or ``audio_signal`` times a per-feature
  factor in 0.5-1.5, so every feature carries some and none all of it), ``u_f`` the subject's
  offset and ``n_t`` AR(1) noise over frames (``ar_rho``); ``M_f`` a fixed random map to the
  feature's real width. Noise is independent across features, so fusing features helps, and
  labels persist, so a temporal encoder helps.

Deterministic for a seed: video ``i`` draws from its own ``SeedSequence`` child.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from models.expression.annotations import write_annotation
from models.expression.dataset import (
    FEATURES_DIR,
    faces_path,
    feature_path,
    write_dataset,
)
from models.expression.features import FEATURES, INVALID_LABEL, N_CLASSES, check_features, dim, is_visual

# choice: a rough Aff-Wild2 class balance (neutral and other dominate, fear and disgust are rare)
AFFWILD2_PRIOR = (0.30, 0.04, 0.03, 0.03, 0.17, 0.10, 0.06, 0.27)


@dataclass(frozen=True)
class SynthConfig:
    """Defaults are the paper's scale: Aff-Wild2's 548 expression videos (§4.1)."""

    videos: int = 548  # paper §4.1
    # choice: 1,500-8,000 frames at 30 fps (~4,750 mean, ~2.6 M frames, the order of ABAW5's set)
    frames: tuple[int, int] = (1500, 8000)
    fps: float = 30.0
    features: tuple[str, ...] = tuple(FEATURES)
    repeat_subject_rate: float = 0.15  # choice: share of videos showing the previous video's subject
    validation_rate: float = 0.2  # paper §4.6: 4 times as many training videos as validation videos
    class_prior: tuple[float, ...] = AFFWILD2_PRIOR
    episode_frames: float = 90.0  # choice: an expression lasts ~3 s at 30 fps
    invalid_rate: float = 0.03
    no_face_rate: float = 0.08
    latent_dim: int = 16
    visual_signal: float = 0.9
    audio_signal: float = 0.5
    subject_std: float = 0.8
    frame_std: float = 1.0
    ar_rho: float = 0.8
    obs_std: float = 0.3
    seed: int = 0
    # seed of the class prototypes and feature maps (the world the videos come from); None: ``seed``.
    # New traffic for a trained model is new videos of the same world: another seed, the same world_seed
    world_seed: int | None = None

    def __post_init__(self) -> None:
        check_features(self.features, "features")
        if self.videos < 1:
            raise ValueError(f"videos must be >= 1, got {self.videos}")
        if not 1 <= self.frames[0] <= self.frames[1]:
            raise ValueError(f"frames must be (low, high) with 1 <= low <= high, got {self.frames}")
        if len(self.class_prior) != N_CLASSES or min(self.class_prior) < 0 or sum(self.class_prior) <= 0:
            raise ValueError(f"class_prior must be {N_CLASSES} non-negative weights, got {self.class_prior}")
        for name in ("repeat_subject_rate", "validation_rate", "invalid_rate", "no_face_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.episode_frames < 1:
            raise ValueError(f"episode_frames must be >= 1, got {self.episode_frames}")


def _runs(rng: np.random.Generator, n: int, mean_length: float) -> np.ndarray:
    """Start index of each run when ``n`` frames are cut into geometric runs of ``mean_length``."""
    lengths = rng.geometric(1.0 / mean_length, size=n // max(1, int(mean_length)) * 4 + 4)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    return starts[starts < n]


def _labels(config: SynthConfig, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """True class per frame and its annotation (-1 on invalid runs)."""
    prior = np.asarray(config.class_prior, dtype=np.float64)
    starts = _runs(rng, n, config.episode_frames)
    classes = rng.choice(N_CLASSES, size=len(starts), p=prior / prior.sum())
    truth = np.repeat(classes, np.diff(np.append(starts, n)))
    annotated = truth.copy()
    annotated[_masked(rng, n, config.invalid_rate)] = INVALID_LABEL
    return truth, annotated


def _masked(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Frames in runs (mean 15 frames) covering about ``rate`` of the video."""
    starts = _runs(rng, n, 15.0)
    hit = np.repeat(rng.random(len(starts)) < rate, np.diff(np.append(starts, n)))
    return hit


def _structure(config: SynthConfig) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Per feature: class prototypes, mixing map to the real width, signal share."""
    world = config.seed if config.world_seed is None else config.world_seed
    rng = np.random.default_rng([world, 0])
    prototypes, mixing, share = {}, {}, {}
    for name in config.features:
        prototypes[name] = rng.standard_normal((N_CLASSES, config.latent_dim))
        mixing[name] = rng.standard_normal((config.latent_dim, dim(name))) / np.sqrt(config.latent_dim)
        base = config.visual_signal if is_visual(name) else config.audio_signal
        share[name] = base * rng.uniform(0.5, 1.5)
    return prototypes, mixing, share


def _videos(config: SynthConfig) -> pd.DataFrame:
    rng = np.random.default_rng([config.seed, 1])
    subject = 0
    rows = []
    for i in range(config.videos):
        if i and rng.random() < config.repeat_subject_rate:
            subject -= 1  # the previous video's subject again
        rows.append({"video_id": f"video{i:04d}", "subject_id": f"subject{subject:04d}"})
        subject += 1
    videos = pd.DataFrame(rows)
    subjects = videos["subject_id"].unique()
    validation = set(subjects[rng.random(len(subjects)) < config.validation_rate])
    videos["partition"] = np.where(videos["subject_id"].isin(validation), "validation", "train")
    videos["n_frames"] = rng.integers(config.frames[0], config.frames[1] + 1, size=config.videos)
    videos["fps"] = config.fps
    return videos


def synthesize(config: SynthConfig, out: Path) -> pd.DataFrame:
    """Write a dataset into the new directory ``out``; returns its videos table."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; a dataset is written into a new directory")
    for name in config.features:
        (out / FEATURES_DIR / name).mkdir(parents=True)
    prototypes, mixing, share = _structure(config)
    videos = _videos(config)
    children = np.random.SeedSequence([config.seed, 2]).spawn(config.videos)
    subject_offsets: dict[tuple[str, str], np.ndarray] = {}
    for row, child in zip(videos.itertuples(index=False), children, strict=True):
        rng = np.random.default_rng(child)
        n = int(row.n_frames)
        truth, annotated = _labels(config, rng, n)
        write_annotation(out / "annotations" / f"{row.video_id}.txt", annotated)
        faces = np.flatnonzero(~_masked(rng, n, config.no_face_rate))
        if not len(faces):
            faces = np.array([0])
        faces_path(out, row.video_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(faces_path(out, row.video_id), faces.astype(np.int64))
        for name in config.features:
            key = (row.subject_id, name)
            if key not in subject_offsets:  # a subject keeps its offset across its videos
                seed = [config.seed, 3, int(row.subject_id[7:]), list(FEATURES).index(name)]
                subject_rng = np.random.default_rng(seed)
                subject_offsets[key] = config.subject_std * subject_rng.standard_normal(config.latent_dim)
            # AR(1) with stationary std frame_std
            scale = config.frame_std * np.sqrt(1 - config.ar_rho**2)
            noise = rng.standard_normal((n, config.latent_dim)) * scale
            noise = lfilter([1.0], [1.0, -config.ar_rho], noise, axis=0)
            latent = share[name] * prototypes[name][truth] + subject_offsets[key] + noise
            x = latent @ mixing[name] + config.obs_std * rng.standard_normal((n, dim(name)))
            if is_visual(name):
                x = x[faces]  # visual rows exist only for frames with a face image
            np.save(feature_path(out, name, row.video_id), x.astype(np.float32))
    provenance = {"generator": "models.expression.synth", **asdict(config)}
    write_dataset(out, videos, config.features, provenance)
    return videos
