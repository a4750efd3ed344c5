"""Recorded face videos -> a hearing-loss cohort of per-frame Marlin features (paper §3.2.1, §4.3).

Input: a segments CSV (one row per segment: who, which session, which noise level, which video
window) as an annotation of recorded conversations would give it. Output: a cohort directory
in the format of :mod:`models.hearing_loss.dataset`, written one subject at a time. The family's
``data.featurize`` (``affectops data featurize``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.face import FaceAligner, FaceConfig
from models.common.marlin import MarlinConfig
from models.hearing_loss.dataset import AGE_RANGE, FPS, GENDERS, NOISE_LEVELS_DBA, CohortWriter, age_group
from models.hearing_loss.media import MARLIN_SMALL, RANDOM_WEIGHTS_WARNING, featurize_segment, frozen_encoder

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = (
    "subject_id",
    "session_id",
    "segment_id",
    "segment_index",
    "noise_level_dba",
    "video",  # path relative to the CSV's directory
    "start_s",
    "end_s",
    "age",
    "gender",
    "hearing_loss",
)
NUMERIC_COLUMNS = ("segment_index", "noise_level_dba", "start_s", "end_s", "age", "hearing_loss")
FACE_DEFAULTS = FaceConfig()


def read_segments(segments_csv: Path) -> pd.DataFrame:
    """The validated segments table, ``video`` resolved to absolute paths; names every bad value."""
    segments_csv = Path(segments_csv)
    ids = {"subject_id": str, "session_id": str, "segment_id": str, "video": str, "gender": str}
    frame = pd.read_csv(segments_csv, dtype=ids, keep_default_na=False)
    missing = [c for c in SEGMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{segments_csv}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{segments_csv}: no segments")
    numbers = {c: pd.to_numeric(frame[c], errors="coerce") for c in NUMERIC_COLUMNS}
    whole = {c: numbers[c].notna() & (numbers[c] == numbers[c].round()) for c in numbers}
    video = frame["video"].map(lambda v: (segments_csv.parent / v).resolve() if v else None)
    checks = {  # column: (rows that break the rule, the rule)
        "subject_id": (frame["subject_id"] == "", "must be non-empty"),
        "session_id": (frame["session_id"] == "", "must be non-empty"),
        "segment_id": (
            (frame["segment_id"] == "") | frame["segment_id"].duplicated(keep=False),
            "must be non-empty and unique",
        ),
        "segment_index": (
            ~whole["segment_index"] | (numbers["segment_index"] < 0),
            "must be an integer >= 0",
        ),
        "noise_level_dba": (
            ~numbers["noise_level_dba"].isin(NOISE_LEVELS_DBA),
            f"must be one of {NOISE_LEVELS_DBA}",
        ),
        "video": (
            ~video.map(lambda path: path is not None and path.is_file()),
            f"must name an existing file relative to {segments_csv.parent}",
        ),
        "start_s": (numbers["start_s"].isna() | (numbers["start_s"] < 0), "must be a number >= 0"),
        "end_s": (~(numbers["end_s"] > numbers["start_s"]), "must be a number > start_s"),
        "age": (~whole["age"] | ~numbers["age"].between(*AGE_RANGE), f"must be an integer in {AGE_RANGE}"),
        "gender": (~frame["gender"].isin(GENDERS), f"must be one of {GENDERS}"),
        "hearing_loss": (~numbers["hearing_loss"].isin((0, 1)), "must be 0 or 1"),
    }
    problems = [
        f"{column} {rule}: CSV line(s) {_lines(bad)} have {frame.loc[bad, column].head(5).tolist()}"
        for column, (bad, rule) in checks.items()
        if bad.any()
    ]
    if not problems:
        # a subject is one person: the per-subject attributes must agree across their segments
        for column in ("session_id", "age", "gender", "hearing_loss"):
            varying = frame.groupby("subject_id")[column].nunique()
            varying = varying[varying > 1]
            if len(varying):
                problems.append(
                    f"{column} differs between segments of subject(s) {varying.index[:5].tolist()}"
                )
    if problems:
        raise ValueError(f"{segments_csv}: bad segments:\n  " + "\n  ".join(problems))
    typed = frame.assign(video=video, **{c: numbers[c] for c in numbers})
    return typed.astype(
        {"segment_index": "int32", "noise_level_dba": "int16", "age": "int16", "hearing_loss": "int8"}
    )


def _lines(bad: pd.Series) -> str:
    lines = (np.flatnonzero(bad.to_numpy()) + 2).tolist()  # + header line, 1-based
    return ", ".join(map(str, lines[:5])) + (f" (+{len(lines) - 5} more)" if len(lines) > 5 else "")


def build_cohort_from_videos(
    segments_csv: Path,
    out: Path,
    weights: Path | None,
    *,
    weights_uri: str | None = None,
    config: MarlinConfig = MARLIN_SMALL,
    face: FaceConfig = FACE_DEFAULTS,
    device: str = "cpu",
    seed: int = 0,
) -> pd.DataFrame:
    """Featurize every segment of ``segments_csv`` into a new cohort at ``out``; returns its manifest.

    ``weights``: a local MARLIN checkpoint file; ``weights_uri``, where it came from (a local or
    ``s3://`` directory), is what the provenance names (default: ``weights``). ``None`` builds a
    randomly initialised encoder from ``seed``, which is flagged in the cohort's provenance and warned
    about: such features are for pipeline tests, not for models.
    """
    segments = read_segments(segments_csv)
    encoder = frozen_encoder(weights, config, seed=seed)
    aligner = FaceAligner(face)
    writer = CohortWriter(out, feature_dim=config.embed_dim)
    without_face: dict[str, int] = {}
    order = ["subject_id", "session_id", "segment_index"]
    for subject_id, rows in segments.sort_values(order).groupby("subject_id", sort=True):
        features = []
        for row in rows.itertuples(index=False):
            result = featurize_segment(
                row.video, encoder, start_s=row.start_s, end_s=row.end_s, device=device, aligner=aligner
            )
            features.append(result.features)
            without_face[row.segment_id] = result.frames_without_face
            log.info("%s/%s: %d frames", subject_id, row.segment_id, len(result.features))
        writer.add_subject(str(subject_id), rows.assign(age_group=rows["age"].map(age_group)), features)
    encoder_provenance = {
        "architecture": "MARLIN ViT encoder (models.common.marlin)",
        "config": asdict(config),
        "weights": weights_uri or (None if weights is None else str(weights)),
        "random_weights": weights is None,
        **({"seed": seed, "warning": RANDOM_WEIGHTS_WARNING} if weights is None else {}),
    }
    return writer.close(
        {
            "generator": "models.hearing_loss.recordings.build_cohort_from_videos",
            "segments_csv": str(Path(segments_csv).resolve()),
            "encoder": encoder_provenance,
            "face": {"detector": "OpenCV Haar cascades, FFHQ-style eye alignment", **asdict(face)},
            "fps": FPS,  # paper §4.1
            "frames_without_face": without_face,
        }
    )
