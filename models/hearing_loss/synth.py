"""SYNTHETIC hearing-loss cohort in the exact RLR-CHAT stand-in format (see ``dataset.py``).

Not real data: a mechanism check. Each of the paper's hypotheses is planted as one documented
``SynthConfig`` parameter, so a null control is that parameter switched off. Generative model, per
subject ``s`` (latent space of ``latent_dim`` dims, projected to D = 384):

* demographics follow Table 1: age groups in proportion 60 / 64 / 54, positive rates
  ``positive_rates`` (default Table 1's 0.18 / 0.52 / 0.76), age uniform within the group's range;
  two subjects per session (the paper's 178 subjects come from 89 one-on-one sessions, §4.1);
* a session lasts ~51 minutes (18,145 segments / 178 subjects, §4.1) and is cut into
  25-35 s segments; its noise level changes at every segment, drawn as shuffled blocks of
  {quiet, 55, 65, 75} dBA so levels are balanced (§4.1); partners share the schedule;
* per-frame latent ``z_t = u_s + b_s + a_s + r_s(noise) + e_seg + n_t`` where
  - ``u_s ~ N(0, identity_std^2)`` is the subject's identity offset,
  - ``b_s = N(0, hl_baseline_std^2) * w_hl`` is the subject's own baseline along the hearing-loss
    direction (how this face looks in conversation anyway). ``hl_baseline_std`` is larger than
    the hearing-loss reaction, so one segment alone is weakly informative and only the change
    against the subject's quiet behaviour (the anchor, §3.2) reveals hearing loss (hypothesis 1),
  - ``a_s = age_strength * zscore(age) * w_age`` is an age signal that is easy to read from the
    face; with Table 1's positive rates age is an easy but spurious cue (it predicts hearing loss
    through the age groups' rates only, not within a group), the shortcut ABM removes (hypothesis 2),
  - ``r_s(noise) = kappa_s * level(noise) * (common_reaction * w_common
    + hearing_loss * hl_reaction * w_hl)``: everyone reacts to noise, subjects with hearing
    loss react more along ``w_hl``; ``level`` is 0 / 0.3 / 0.55 / 1 for quiet / 55 / 65 /
    75 dBA, so quiet segments carry no hearing-loss signal and the difference is strongest at
    75 dBA (Fig. 6); ``kappa_s`` is a log-normal reactivity,
  - ``e_seg ~ N(0, segment_std^2)`` is per-segment variation (topic, pose, lighting): the
    within-subject nuisance VM's triplet loss (Eq. 1) has to see past (hypothesis 3),
  - ``n_t`` is AR(1) over frames (``ar_rho``) with std ``frame_std * expressivity_s``, raised
    by ``hl_variability * level(noise)`` for subjects with hearing loss (more fidgeting in noise);
    ``expressivity_s`` is log-normal, so raw variability is confounded by the person too;
* features ``x_t = z_t @ mixing + N(0, obs_std^2)``, ``mixing`` a fixed random orthonormal
  ``latent_dim x D`` map (scaled by sqrt(D / latent_dim)), so every effect is spread over all 384 dims.

``w_age``, ``w_common`` and ``w_hl`` are orthonormal (``planted_directions`` returns them). The
parameters were set by model-free oracle checks only (``benchmarks/hearing_loss_synth_calibration.py``:
single-segment vs anchor-relative AUC along ``w_hl``, age-only AUC, a random encoder's initial triplet
loss) and then frozen before any variant was trained. Null controls: ``NULL_CONTROLS``.
Deterministic for a seed: subject ``i`` draws from its own ``SeedSequence`` child.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from models.hearing_loss.dataset import (
    FEATURE_DIM,
    FPS,
    NOISE_LEVELS_DBA,
    SEGMENT_SECONDS,
    CohortWriter,
)

# paper Table 1: subjects per age group (of 178) and positive rates
GROUP_SUBJECTS = {"young": 60, "mid": 64, "old": 54}
GROUP_POSITIVE_RATE = {"young": 0.18, "mid": 0.52, "old": 0.76}
GROUP_AGES = {"young": (18, 39), "mid": (40, 56), "old": (57, 88)}  # Table 1 age ranges
NOISE_RESPONSE = {
    0: 0.0,
    55: 0.3,
    65: 0.55,
    75: 1.0,
}  # none in quiet, strongest at 75 dBA
AGE_CENTER, AGE_SCALE = 50.0, 17.0  # rough z-scoring of the 18-88 range
_BURN_IN = 30  # AR(1) frames dropped so every segment starts in the stationary regime


@dataclass(frozen=True)
class SynthConfig:
    """Generator parameters; each planted hypothesis is one field (module docstring)."""

    subjects: int = 178  # paper §4.1
    # paper §4.1: sessions of "approximately one hour", 18,145 segments for 178 subjects, i.e. ~51
    # minutes of usable segments per session
    session_seconds: tuple[float, float] = (2750.0, 3370.0)
    seed: int = 0
    feature_dim: int = FEATURE_DIM
    latent_dim: int = 32
    # paper Table 1: positive rate per age group (young, mid, old); equal rates = no age correlation
    positive_rates: tuple[float, float, float] = (0.18, 0.52, 0.76)
    identity_std: float = 1.2
    quiet_response: float = 0.0  # the noise reaction's level in quiet (NOISE_RESPONSE's 0 dBA entry)
    hl_baseline_std: float = 2.0  # per-subject baseline along w_hl, > the reaction: the anchor matters
    age_strength: float = 2.0  # age readable from the face: an easy cue
    common_reaction: float = 1.0
    hl_reaction: float = 1.5  # hearing loss: extra reaction at 75 dBA along w_hl (0 = null control)
    hl_variability: float = 0.25  # hearing loss: extra frame variability in noise (0 = null control)
    reactivity_std: float = 0.35
    expressivity_std: float = 0.3
    segment_std: float = 0.3  # within-subject nuisance: small enough that Eq. 1 is active at init
    frame_std: float = 0.8
    ar_rho: float = 0.9
    obs_std: float = 0.5
    # (seed, subjects) of the cohort whose planted directions and feature mixing this one shares: new
    # subjects of that population, as production traffic is to a model trained on it; None: its own
    world: tuple[int, int] | None = None


# Null controls as generator settings. ``no_reaction``: no hearing-loss reaction and no age correlation,
# so nothing in a subject's data relates to the label and every variant should be near its coin flip
# (with the age correlation left in, age read from the face would still beat a coin flip).
# ``no_age_correlation``: Table 1's overall positive rate in every age group, so age is no shortcut and
# Marlin+Age should be near Marlin.
_TABLE1_RATE = round(
    sum(GROUP_SUBJECTS[g] * r for g, r in GROUP_POSITIVE_RATE.items()) / sum(GROUP_SUBJECTS.values()), 3
)
NULL_CONTROLS = {
    "no_reaction": {"hl_reaction": 0.0, "hl_variability": 0.0, "positive_rates": (_TABLE1_RATE,) * 3},
    "no_age_correlation": {"positive_rates": (_TABLE1_RATE,) * 3},
}

# The cohort the platform's demo and end-to-end tests run on: the generator's parameters before the
# mechanism check above (hearing loss an absolute shift along w_hl, quiet segments at 0.1 of the
# reaction, no per-subject baseline, a weak age cue), reproduced draw for draw. On the mechanism
# cohort none of the paper's variants learns more than the age cue at the demo's scale (benchmarks/
# RESULTS.md, Table 2 at reduced scale), so its gates would stop the demo at promotion; the platform
# needs a model that clears them. Not a result about the paper: the mechanism cohort is the default.
PLATFORM_COHORT = {
    "quiet_response": 0.1,
    "hl_baseline_std": 0.0,
    "age_strength": 1.0,
    "hl_reaction": 4.5,
    "segment_std": 0.5,
}


def _group_counts(n: int) -> dict[str, int]:
    total = sum(GROUP_SUBJECTS.values())
    counts = {g: round(n * k / total) for g, k in GROUP_SUBJECTS.items()}
    counts["mid"] += n - sum(counts.values())
    return counts


def _demographics(config: SynthConfig, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for group, count in _group_counts(config.subjects).items():
        rate = dict(zip(GROUP_SUBJECTS, config.positive_rates, strict=True))[group]
        positives = round(count * rate)
        labels = rng.permutation(np.r_[np.ones(positives), np.zeros(count - positives)])
        low, high = GROUP_AGES[group]
        for label in labels:
            rows.append(
                {
                    "age": int(rng.integers(low, high + 1)),
                    "age_group": group,
                    "gender": str(rng.choice(["female", "male"])),
                    "hearing_loss": int(label),
                }
            )
    people = pd.DataFrame(rows).sample(frac=1.0, random_state=rng.integers(2**31)).reset_index(drop=True)
    people["subject_id"] = [f"S{i:04d}" for i in range(len(people))]
    people["session_id"] = [f"C{i // 2:04d}" for i in range(len(people))]  # two per session
    return people


def _noise_schedule(rng: np.random.Generator, seconds: float) -> pd.DataFrame:
    """25-35 s segments covering the session; levels in shuffled balanced blocks."""
    low, high = SEGMENT_SECONDS
    bounds, start = [], 0.0
    while start + low <= seconds:
        end = start + float(rng.uniform(low, high))
        if end > seconds:
            break
        bounds.append((start, end))
        start = end
    levels: list[int] = []
    while len(levels) < len(bounds):
        block = list(rng.permutation(NOISE_LEVELS_DBA))
        if levels and block[0] == levels[-1]:  # the level must change at every boundary
            block = block[1:] + block[:1]
        levels.extend(int(x) for x in block)
    return pd.DataFrame(
        {
            "segment_index": np.arange(len(bounds)),
            "noise_level_dba": levels[: len(bounds)],
            "start_s": [b[0] for b in bounds],
            "end_s": [b[1] for b in bounds],
        }
    )


def _directions(config: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal (w_age, w_common, w_hl) in latent space and the latent -> D mixing map."""
    q, _ = np.linalg.qr(rng.standard_normal((config.latent_dim, config.latent_dim)))
    effects = q[:, :3].T
    mixing, _ = np.linalg.qr(rng.standard_normal((config.feature_dim, config.latent_dim)))
    return effects, mixing.T * np.sqrt(config.feature_dim / config.latent_dim)


def _subject_features(
    config: SynthConfig,
    person: pd.Series,
    schedule: pd.DataFrame,
    effects: np.ndarray,
    mixing: np.ndarray,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    w_age, w_common, w_hl = effects
    k = config.latent_dim
    identity = rng.normal(0.0, config.identity_std, k)
    # the subject's own level along w_hl (not drawn at 0, so the platform cohort's draws are the old ones)
    baseline = rng.normal(0.0, config.hl_baseline_std) * w_hl if config.hl_baseline_std else 0.0
    age = config.age_strength * (person["age"] - AGE_CENTER) / AGE_SCALE * w_age  # the age cue
    kappa = rng.lognormal(0.0, config.reactivity_std)
    expressivity = rng.lognormal(0.0, config.expressivity_std)  # how much this face moves at all
    hl = float(person["hearing_loss"])
    level = schedule["noise_level_dba"].map(NOISE_RESPONSE | {0: config.quiet_response}).to_numpy()
    reaction = kappa * level[:, None] * (config.common_reaction * w_common + hl * config.hl_reaction * w_hl)
    segment_mean = (
        identity + baseline + age + reaction + rng.normal(0.0, config.segment_std, (len(schedule), k))
    )

    n_frames = np.round((schedule["end_s"] - schedule["start_s"]).to_numpy() * FPS).astype(int)
    innov = rng.standard_normal((len(schedule), n_frames.max() + _BURN_IN, k))
    # AR(1) with unit stationary variance, then scaled per segment (hearing loss raises it in noise)
    ar = lfilter([np.sqrt(1 - config.ar_rho**2)], [1.0, -config.ar_rho], innov, axis=1)[:, _BURN_IN:]
    frame_scale = expressivity * config.frame_std * (1.0 + hl * config.hl_variability * level)
    latent = segment_mean[:, None, :] + ar * frame_scale[:, None, None]

    out = []
    for i, t in enumerate(n_frames):
        x = latent[i, :t] @ mixing
        x += rng.normal(0.0, config.obs_std, x.shape)
        out.append(x.astype(np.float32))
    return out


def _cohort_draws(
    config: SynthConfig,
) -> tuple[np.random.Generator, list, pd.DataFrame, np.ndarray, np.ndarray]:
    root = np.random.SeedSequence(config.seed)
    cohort_seq, *subject_seqs = root.spawn(config.subjects + 1)
    cohort_rng = np.random.default_rng(cohort_seq)
    people = _demographics(config, cohort_rng)
    effects, mixing = _directions(config, cohort_rng)  # drawn either way: the later draws stay as they were
    if config.world is not None:
        seed, subjects = config.world
        *_, effects, mixing = _cohort_draws(replace(config, seed=seed, subjects=subjects, world=None))
    return cohort_rng, subject_seqs, people, effects, mixing


def planted_directions(config: SynthConfig) -> dict[str, np.ndarray]:
    """The cohort's planted directions in feature space (D-dim, unit norm): ``age``, ``common``, ``hl``.

    For oracle checks only (a model never sees them): a latent direction ``w`` shows in the
    features as ``w @ mixing``.
    """
    *_, effects, mixing = _cohort_draws(config)
    out = {}
    for name, w in zip(("age", "common", "hl"), effects, strict=True):
        direction = w @ mixing
        out[name] = direction / np.linalg.norm(direction)
    return out


def synthesize(config: SynthConfig, out_dir: Path) -> pd.DataFrame:
    """Write a synthetic cohort to ``out_dir``; returns its manifest."""
    cohort_rng, subject_seqs, people, effects, mixing = _cohort_draws(config)
    schedules = {
        sid: _noise_schedule(cohort_rng, float(cohort_rng.uniform(*config.session_seconds)))
        for sid in people["session_id"].unique()
    }
    writer = CohortWriter(Path(out_dir), config.feature_dim)
    for person, seq in zip(people.itertuples(index=False), subject_seqs, strict=True):
        person = pd.Series(person._asdict())
        schedule = schedules[person["session_id"]].copy()
        features = _subject_features(config, person, schedule, effects, mixing, np.random.default_rng(seq))
        for column in ("subject_id", "session_id", "age", "age_group", "gender", "hearing_loss"):
            schedule[column] = person[column]
        schedule["segment_id"] = person["subject_id"] + "-" + schedule["segment_index"].map("{:03d}".format)
        writer.add_subject(person["subject_id"], schedule, features)
    return writer.close({"generator": "affectops.synth.hearing_loss", "config": asdict(config)})
