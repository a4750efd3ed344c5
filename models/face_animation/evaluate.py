"""The paper's metrics (§4.3) on a held-out partition: LMD (full face and mouth) and ES.

- LMD: per frame, both landmark sets minus their centroid, the mean Euclidean distance over the
  points (NOTES §2.3, RAD-NeRF's LMDMeter), averaged over frames; in 256² pixels on the ICP-aligned
  landmarks (choice), full face (68 points) and mouth (48-67). Ground truth is the dataset's
  landmarks (the paper detects them with dlib [31]; the synthetic data has them exactly).
- ES: the cosine between the expression classifier's softmax on the synthesized and the real frame,
  averaged over every ``es_stride``-th frame; the classifier is the fer **stand-in** for SCN [28]
  (expression_model.py), and every report says so (``es_classifier``).
Each utterance is animated from its audio and its first frame (the reference image, L_0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.face_animation.checkpoint import TrainedModel
from models.face_animation.data import Utterance, load_split, load_utterances, select
from models.face_animation.dataset import read_video
from models.face_animation.images import pose_back
from models.face_animation.landmarks import MOUTH
from models.face_animation.predict import predict_landmarks, render_frames


def lmd(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Landmark distance of [T, P, 2] arrays: centroids removed per frame, mean point distance."""
    p = predicted - predicted.mean(axis=1, keepdims=True)
    t = truth - truth.mean(axis=1, keepdims=True)
    return float(np.linalg.norm(p - t, axis=2).mean())


def utterance_scores(trained: TrainedModel, utterance: Utterance) -> dict:
    """LMD (full, mouth) and ES of one utterance."""
    from models.face_animation.expression_model import classifier, cosine

    predicted = predict_landmarks(trained, utterance.windows, utterance.reference)
    stride = trained.config.es_stride
    video = read_video(utterance.video)
    picked = np.arange(0, len(predicted), stride)
    posed = pose_back(predicted[picked], utterance.reference, utterance.posed[0])
    synthesized = render_frames(trained, posed, video[0])
    real = video[picked]
    if real.shape[1:3] != synthesized.shape[1:3]:
        import cv2

        real = np.stack(
            [cv2.resize(f, synthesized.shape[1:3][::-1], interpolation=cv2.INTER_AREA) for f in real]
        )
    expressions = classifier()
    fake_p, real_p = expressions.probabilities(synthesized), expressions.probabilities(real)
    return {
        "utterance_key": utterance.key,
        "speaker_id": utterance.speaker_id,
        "emotion": utterance.emotion,
        "frames": len(predicted),
        "lmd": lmd(predicted, utterance.aligned),
        "lmd_mouth": lmd(predicted[:, MOUTH], utterance.aligned[:, MOUTH]),
        # the still face (L_0 held in every frame): what predicting no motion scores
        "lmd_still": lmd(np.repeat(utterance.reference[None], len(predicted), axis=0), utterance.aligned),
        "lmd_mouth_still": lmd(
            np.repeat(utterance.reference[None, MOUTH], len(predicted), axis=0), utterance.aligned[:, MOUTH]
        ),
        "es": float(np.mean([cosine(a, b) for a, b in zip(fake_p, real_p, strict=True)])),
    }


def score_partition(trained: TrainedModel, data: Path, holdout: str | None) -> pd.DataFrame:
    """One row of scores per utterance of the held-out partition (default: the model's own)."""
    holdout = trained.holdout if holdout is None else holdout
    if holdout is None:
        raise ValueError("the model was trained on every partition: name the partition to evaluate")
    if trained.holdout is not None and holdout != trained.holdout:
        raise ValueError(
            f"the model held out {trained.holdout!r}, not {holdout!r}: it trained on that partition"
        )
    table = select(load_split(Path(data)), holdout, train=False)
    return pd.DataFrame(
        [utterance_scores(trained, u) for u in load_utterances(Path(data), table, trained.mean_face)]
    )


def summarize_scores(rows: pd.DataFrame) -> dict:
    """Frame-weighted LMD and ES over utterances, and per planted emotion."""
    from models.face_animation.expression_model import STAND_IN

    weights = rows["frames"].to_numpy(dtype=float)

    def mean(frame: pd.DataFrame, column: str) -> float:
        return float(np.average(frame[column], weights=frame["frames"]))

    report = {
        "lmd": mean(rows, "lmd"),
        "lmd_mouth": mean(rows, "lmd_mouth"),
        "es": mean(rows, "es"),
        "lmd_still": mean(rows, "lmd_still"),
        "lmd_mouth_still": mean(rows, "lmd_mouth_still"),
        "es_classifier": STAND_IN,
        "utterances": len(rows),
        "frames": int(weights.sum()),
        "per_emotion": {
            emotion: {
                "lmd": mean(group, "lmd"),
                "lmd_mouth": mean(group, "lmd_mouth"),
                "es": mean(group, "es"),
            }
            for emotion, group in rows.groupby("emotion")
        },
    }
    return report


def evaluate(trained: TrainedModel, data: Path, holdout: str | None = None) -> dict:
    """The paper's metrics on ``holdout`` (default: the partition the model never saw)."""
    rows = score_partition(trained, data, holdout)
    return {**summarize_scores(rows), "partition": holdout or trained.holdout}
