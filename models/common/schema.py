"""A family's serving schema: the named tensors a request carries and a response returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor. ``shape`` uses None for a variable dimension bounded by ``length``."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]
    description: str
    length: tuple[int, int] | None = None  # inclusive bounds of the variable (first) dimension

    def check(self, value: np.ndarray) -> None:
        """Raise ValueError naming this tensor and the problem (dtype, rank, size, non-finite)."""
        if value.dtype != np.dtype(self.dtype):
            raise ValueError(f"{self.name}: dtype must be {self.dtype}, got {value.dtype}")
        if value.ndim != len(self.shape):
            raise ValueError(f"{self.name}: must have {len(self.shape)} dims {self.shape}, got {value.shape}")
        for axis, (want, got) in enumerate(zip(self.shape, value.shape, strict=True)):
            if want is not None and want != got:
                raise ValueError(f"{self.name}: dim {axis} must be {want}, got {got} (shape {value.shape})")
            if want is None and self.length is not None and not self.length[0] <= got <= self.length[1]:
                low, high = self.length
                raise ValueError(f"{self.name}: dim {axis} must lie in [{low}, {high}], got {got}")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{self.name}: contains NaN or inf")


@dataclass(frozen=True)
class ServingSchema:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # request fields passed through to the inference log for monitoring; never model inputs
    metadata: tuple[str, ...] = ()

    def check_inputs(self, tensors: Mapping[str, np.ndarray]) -> None:
        expected = {spec.name for spec in self.inputs}
        missing, unknown = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        if missing:
            raise ValueError(f"missing input tensor(s): {', '.join(missing)}")
        if unknown:
            raise ValueError(
                f"unknown input tensor(s): {', '.join(unknown)}; expected {', '.join(sorted(expected))}"
            )
        for spec in self.inputs:
            spec.check(tensors[spec.name])
