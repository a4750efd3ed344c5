"""The MLflow pyfunc face of any family's model artifact, and its signature from the serving schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mlflow.pyfunc
import numpy as np

ARTIFACT_KEY = "model"  # the family's model file, under this key of the pyfunc's artifacts


class FamilyModel(mlflow.pyfunc.PythonModel):
    """Loads the artifact with the family's ``load_model``; predicts one request of named arrays."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.trained: Any = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        from models import get_family

        self.trained = get_family(self.family).train.load(context.artifacts[ARTIFACT_KEY])

    # no type hints: MLflow 3 would derive a (list-shaped) schema from them instead of the signature
    def predict(self, context, model_input, params=None):
        from models import get_family

        tensors = _named_arrays(model_input)
        get_family(self.family).serve.schema(self.trained.config).check_inputs(tensors)
        return get_family(self.family).serve.predict(self.trained, tensors)


def _named_arrays(model_input: Any) -> dict[str, np.ndarray]:
    if not isinstance(model_input, Mapping):
        raise ValueError(f"input must be a dict of named arrays, got {type(model_input).__name__}")
    return {name: np.asarray(value) for name, value in model_input.items()}


def signature(family: str, config: Any) -> mlflow.models.ModelSignature:
    """Named tensors of the family's serving schema; a variable dimension is -1."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    from models import get_family

    schema = get_family(family).serve.schema(config)

    def tensors(specs) -> Schema:
        return Schema(
            [
                TensorSpec(
                    np.dtype(spec.dtype), tuple(-1 if dim is None else dim for dim in spec.shape), spec.name
                )
                for spec in specs
            ]
        )

    return ModelSignature(inputs=tensors(schema.inputs), outputs=tensors(schema.outputs))
