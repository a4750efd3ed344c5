"""The family-generic predictor core every serving runtime wraps: load, validate, predict.

A model is addressed by a local file or directory, an ``s3://`` prefix, or an MLflow registry
reference (``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``). Validation and prediction come
from the family's contract (``models.FAMILIES``), so nothing here knows a family.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import registry
from core.settings import Settings
from models import FamilySpec, get_family
from models.common.schema import ServingSchema

MLMODEL = "MLmodel"
# a float32 as JSON text: Python's repr of it as a double is up to 24 characters ("-1.2345678901234567e-05")
# plus a separator; 32 leaves headroom for whitespace and nesting brackets
JSON_BYTES_PER_VALUE = 32
ENVELOPE_BYTES = 1 << 20  # names, shapes, parameters and metadata around the tensors
UNBOUNDED_BODY_BYTES = 64 << 20  # a schema with an unbounded dimension cannot size its requests


@dataclass
class Predictor:
    family: FamilySpec
    trained: Any  # what the family's load_model returns
    schema: ServingSchema
    model_version: str  # registry version, or a content hash for an unregistered artifact
    source: str  # the URI the model was loaded from

    @classmethod
    def from_uri(cls, family: str, uri: str | Path, settings: Settings) -> Predictor:
        spec = get_family(family)
        path, version = resolve(str(uri), settings)
        trained = spec.train.load(path)
        return cls(
            family=spec,
            trained=trained,
            schema=spec.serve.schema(trained.config),
            model_version=version,
            source=str(uri),
        )

    def predict(self, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One request's named tensors -> named outputs; ValueError naming the tensor on bad input."""
        self.schema.check_inputs(tensors)
        return self.family.serve.predict(self.trained, dict(tensors))

    @property
    def batches(self) -> bool:
        """Whether the family predicts several requests in one call (its contract's ``predict_batch``)."""
        return self.family.serve.predict_batch is not None

    def predict_checked(self, requests: Sequence[Mapping[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        """Requests already passed through ``schema.check_inputs`` -> each one's outputs: one batched call
        where the family has one, else one request at a time."""
        if len(requests) > 1 and self.batches:
            return self.family.serve.predict_batch(self.trained, [dict(r) for r in requests])
        return [self.family.serve.predict(self.trained, dict(r)) for r in requests]

    def coerce_json(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Nested JSON lists -> arrays of the schema's dtypes (JSON carries no dtype).

        Only numbers are cast, so strings, booleans or ragged lists still fail ``predict``'s check.
        """
        dtypes = {spec.name: np.dtype(spec.dtype) for spec in self.schema.inputs}
        out: dict[str, np.ndarray] = {}
        for name, value in values.items():
            try:
                array = np.asarray(value)
            except ValueError as err:  # ragged nesting
                raise ValueError(f"{name}: not a rectangular array ({err})") from None
            if name in dtypes and array.dtype.kind in "fiu":
                array = array.astype(dtypes[name])
            out[name] = array
        return out


def resolve(uri: str, settings: Settings) -> tuple[Path, str]:
    """The local model file behind ``uri`` (local path, ``s3://`` prefix, ``models:/`` reference) and its
    version: the registry version, or a content hash for an unregistered artifact."""
    if uri.startswith("models:/"):
        local, version = _from_registry(uri, settings)
        return model_file(local), version
    if uri.startswith("s3://"):
        from core.storage import materialize

        local = materialize(uri, settings)
    else:
        local = Path(uri)
        if not local.exists():
            raise FileNotFoundError(f"model_uri: no model at {local}")
    path = model_file(local)
    return path, content_version(path)


def max_body_bytes(schema: ServingSchema) -> int:
    """The largest request body a valid request can need: every input at its largest, as JSON text.

    Binary requests of the same tensors are ~6x smaller, so one limit serves both encodings.
    """
    values = 0
    for spec in schema.inputs:
        count = 1
        for dim in spec.shape:
            if dim is None and spec.length is None:
                return UNBOUNDED_BODY_BYTES
            count *= spec.length[1] if dim is None else dim
        values += count
    return values * JSON_BYTES_PER_VALUE + ENVELOPE_BYTES


def model_file(local: Path) -> Path:
    """The family's model artifact inside ``local``: a file, an MLflow pyfunc directory, or a directory
    holding exactly one file; any other directory is handed to the family's loader as is."""
    local = Path(local)
    if local.is_file():
        return local
    if (local / MLMODEL).is_file():
        return _pyfunc_artifact(local)
    files = [p for p in local.rglob("*") if p.is_file()]
    return files[0] if len(files) == 1 else local


def _pyfunc_artifact(model_dir: Path) -> Path:
    """The one artifact an affectops pyfunc carries: the family's model file (``components/mlflow_model.py``
    logs exactly one). Read from ``MLmodel`` so serving needs nothing from ``components``."""
    import yaml

    flavors = yaml.safe_load((model_dir / MLMODEL).read_text()).get("flavors", {})
    artifacts = flavors.get("python_function", {}).get("artifacts", {})
    if len(artifacts) != 1:
        raise ValueError(
            f"{model_dir} is an MLflow model with {len(artifacts)} artifacts; expected the model file alone"
        )
    (artifact,) = artifacts.values()
    return model_dir / artifact["path"]


def _from_registry(uri: str, settings: Settings) -> tuple[Path, str]:
    """Download a registered version's model directory; returns it and the resolved version."""
    import mlflow
    from mlflow.exceptions import MlflowException

    ref = registry.parse_ref(uri)
    name, alias, version = ref.name, ref.alias, ref.version
    client = registry.client(settings)
    try:
        if alias:
            version = client.get_model_version_by_alias(name, alias).version
        download_uri = client.get_model_version_download_uri(name, str(version))
    except MlflowException as err:
        raise ValueError(f"{uri}: {err.message}") from None
    dst = settings.cache_dir / "models" / name / str(version)
    dst.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=download_uri,
        dst_path=tempfile.mkdtemp(dir=dst),
        tracking_uri=settings.mlflow_tracking_uri,
    )
    return Path(local), str(version)


def content_version(path: Path) -> str:
    """A stable version for an unregistered artifact: the first 12 hex digits of its SHA-256."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.read_bytes())
    return f"sha256-{digest.hexdigest()[:12]}"
