"""The raw-media part of a family's serving contract: what raw inputs (encoded video, frame batches,
audio...) a request may carry, and how the family turns them into its predictor's input tensors.

The platform's transformer checks a request against ``Media.inputs`` (names, one form per predictor
tensor, datatypes, shapes, sizes, the request parameters each form needs), then calls the family's
``MediaPreprocessor`` with what passed; the preprocessor raises ``MediaError`` for media it cannot use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

DEFAULT_MAX_BYTES = 64 << 20  # an encoded 2-minute clip at ~4 Mbit/s


@dataclass(frozen=True)
class MediaInput:
    """One raw input a request may carry. Inputs of the same ``tensor`` are alternative forms of it:
    a request sends exactly one of them."""

    name: str  # e.g. "current_video"
    tensor: str  # the predictor input it becomes, e.g. "current"
    datatype: str  # Open Inference Protocol v2 datatype; BYTES: each element an encoded file
    shape: tuple[int | str, ...]  # fixed sizes as ints, variable ones named: (1,), ("T", "H", "W", 3)
    description: str  # what it holds, for error messages: "an encoded clip"
    parameters: tuple[str, ...] = ()  # request parameters it needs, e.g. ("fps",)
    max_bytes: int = DEFAULT_MAX_BYTES  # encoded bytes (BYTES) or raw bytes (numeric) of one request's input


class MediaError(ValueError):
    """Raw input a preprocessor cannot use; ``field`` is the input or parameter to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class MediaPreprocessor(Protocol):
    def __call__(
        self, inputs: Mapping[str, np.ndarray], parameters: Mapping[str, Any]
    ) -> dict[str, np.ndarray]:
        """One request's raw inputs (one form per tensor, checked against ``Media.inputs``) and its
        parameters -> the predictor's named float tensors. Raises MediaError."""
        ...


class MediaLoader(Protocol):
    def __call__(
        self, weights: Path | None, config: Any, *, allow_random_weights: bool = False
    ) -> MediaPreprocessor:
        """A ready preprocessor from a local weights file (None: none given, refused unless
        ``allow_random_weights``, which is for tests) and ``config``. Raises ValueError."""
        ...


@dataclass(frozen=True)
class Media:
    inputs: tuple[MediaInput, ...]
    load: MediaLoader
    config: Any = None  # the preprocessor's settings (a dataclass with the paper's defaults), or None
    # request parameters handed on to the predictor as they came (monitoring metadata)
    metadata: tuple[str, ...] = ()

    @property
    def tensors(self) -> tuple[str, ...]:
        """The predictor inputs the media become, in order."""
        return tuple(dict.fromkeys(spec.tensor for spec in self.inputs))
