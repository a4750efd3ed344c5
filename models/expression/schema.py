"""What a request to the expression recognizer carries and what it answers."""

from __future__ import annotations

import numpy as np

from models.common.schema import ServingSchema, TensorSpec
from models.expression.features import CLASSES, N_CLASSES, dim, is_visual
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
