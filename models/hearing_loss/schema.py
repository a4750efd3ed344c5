"""What a request to the hearing-loss detector carries and what it answers (paper §3.2: inference)."""

from __future__ import annotations

import numpy as np

from models.common.schema import ServingSchema, TensorSpec
from models.hearing_loss.dataset import FEATURE_DIM, FPS
from models.hearing_loss.model import HearingLossConfig

# choice: 2 minutes at 5 fps; the paper's segments are 25-35 s (175 frames), the bound caps payloads
MAX_FRAMES = 120 * FPS

CURRENT = TensorSpec(
    "current",
    "float32",
    (None, FEATURE_DIM),
    "Marlin-Small features of the segment, [T, 384] at 5 fps",
    (1, MAX_FRAMES),
)
ANCHOR = TensorSpec(
    "anchor",
    "float32",
    (None, FEATURE_DIM),
    "the session's first quiet segment (paper §3.2), [T', 384]",
    (1, MAX_FRAMES),
)
OUTPUTS = (
    TensorSpec("probability", "float32", (), "probability of hearing loss"),
    TensorSpec("label", "int64", (), "1 if probability >= threshold"),
    TensorSpec("threshold", "float32", (), "decision threshold of this model version"),
)
AGE_ESTIMATE = TensorSpec("age_estimate", "float32", (), "age estimator output in years (Fig. 5 probe)")
# demographics are monitoring metadata and never reach the model (ARCHITECTURE.md, principles)
METADATA = ("request_id", "subject_pseudonym", "age", "gender")


def serving_schema(config: HearingLossConfig) -> ServingSchema:
    """Inputs and outputs of a served model of ``config.variant``.

    Marlin+Age (§4.4) is an ablation that needs age as input, which the platform never sends
    to the model, so it has no serving schema.
    """
    if config.uses_age_input:
        raise ValueError(
            "variant marlin_age takes age as input and cannot be served; age never reaches a model"
        )
    inputs = (CURRENT, ANCHOR) if config.uses_anchor else (CURRENT,)
    outputs = OUTPUTS + ((AGE_ESTIMATE,) if config.has_age_head else ())
    return ServingSchema(inputs=inputs, outputs=outputs, metadata=METADATA)


def example_input(config: HearingLossConfig, seed: int = 0, frames: int = 150) -> dict[str, np.ndarray]:
    """Valid request tensors for ``config``: a 30 s current segment (and its anchor)."""
    rng = np.random.default_rng(seed)
    names = [spec.name for spec in serving_schema(config).inputs]
    return {name: rng.standard_normal((frames, FEATURE_DIM)).astype(np.float32) for name in names}
