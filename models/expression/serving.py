"""What a request to the expression recognizer carries and answers; one request through a model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.common.schema import ServingSchema, TensorSpec
from models.expression.checkpoint import TrainedModel
from models.expression.features import CLASSES, N_CLASSES, dim, is_visual
from models.expression.inference import frame_logits, softmax
from models.expression.model import ExpressionConfig

# choice: 5 minutes at 30 fps per request bounds the payload (~60 MB of float32 at the paper's features)
MAX_FRAMES = 9000
METADATA = ("request_id", "video_id")


def serving_schema(config: ExpressionConfig) -> ServingSchema:
    """One float32 [T, dim] per-frame sequence per chosen feature (frames already face-completed, §3.1);
    per-frame class probabilities [T, 8] and labels [T] out."""
    inputs = tuple(
        TensorSpec(
            name,
            "float32",
            (None, dim(name)),
            f"{'visual' if is_visual(name) else 'audio'} feature {name} per video frame, [T, {dim(name)}]",
            (1, MAX_FRAMES),
        )
        for name in config.features
    )
    outputs = (
        TensorSpec(
            "probabilities", "float32", (None, N_CLASSES), f"per-frame probabilities of {', '.join(CLASSES)}"
        ),
        TensorSpec("labels", "int64", (None,), "per-frame most probable class index (0-7)"),
    )
    return ServingSchema(inputs=inputs, outputs=outputs, metadata=METADATA)


def example_input(config: ExpressionConfig, seed: int = 0, frames: int = 150) -> dict[str, np.ndarray]:
    """Valid request tensors for ``config``: 5 s at 30 fps of every chosen feature."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((frames, dim(name))).astype(np.float32) for name in config.features}


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (arrays already checked against ``serving_schema``) -> per-frame outputs."""
    names = trained.config.features
    lengths = {name: len(tensors[name]) for name in names}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every feature needs the same number of frames T, got {lengths}")
    x = np.concatenate([tensors[name] for name in names], axis=1)  # paper Eq. 1's [f^v; f^a]
    probabilities = softmax(frame_logits(trained.model, x)).astype(np.float32)
    return {"probabilities": probabilities, "labels": probabilities.argmax(axis=1).astype(np.int64)}
