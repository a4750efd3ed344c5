"""What a request to the AU detector carries and what it answers.

In: one aligned face crop (uint8 [S, S, 3] RGB, S the model's image size) and its 68 iBUG landmarks
(float32 [68, 2], x / y in the crop's pixels), which place the AU attention maps (paper §2.2). Out:
per AU of the model's layout a probability ``p_au<N>`` and a label ``au<N>`` (probability >= the
threshold), each a scalar, so monitoring reads each AU's activation rate.
"""

from __future__ import annotations

import numpy as np

from models.action_units.model import AUConfig
from models.action_units.render import TEMPLATE
from models.common.schema import ServingSchema, TensorSpec

METADATA = ("request_id", "subject_pseudonym", "gender")


def serving_schema(config: AUConfig) -> ServingSchema:
    size = config.image_size
    inputs = (
        TensorSpec("image", "uint8", (size, size, 3), f"aligned face crop, RGB, {size} x {size}"),
        TensorSpec("landmarks", "float32", (68, 2), "68 iBUG landmarks (x, y) in the crop's pixels"),
    )
    outputs = [TensorSpec("threshold", "float32", (), "decision threshold of this model version")]
    for au in config.aus:
        outputs.append(TensorSpec(f"p_au{au}", "float32", (), f"probability that AU{au} is present"))
        outputs.append(TensorSpec(f"au{au}", "int64", (), f"1 if AU{au}'s probability >= threshold"))
    return ServingSchema(inputs=inputs, outputs=tuple(outputs), metadata=METADATA)


def example_input(config: AUConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """A valid request: a grey-noise crop with the mean face's landmarks."""
    rng = np.random.default_rng(seed)
    size = config.image_size
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return {"image": image, "landmarks": (TEMPLATE * size).astype(np.float32)}
