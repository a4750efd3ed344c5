"""Runtime 2: the predictor core as a TorchServe handler, under KServe's ``kservev2`` envelope.

TorchServe copies this file into the ``.mar`` and imports it there as ``handler``, so it holds
exactly one class (TorchServe's loader requires that) and imports the platform as an installed
package. With ``service_envelope=kservev2`` the envelope hands ``handle`` the request's v2 inputs
(``[{"name", "shape", "datatype", "data": nested lists}, ...]``), names the returned outputs after
``context.input_names`` and writes ``id``, ``model_name`` and the manifest's ``model_version``.
The stock envelope (TorchServe 0.12) drops the request's ``parameters``, so the request metadata
never reaches the model here; the inference log keeps it with the request, joined by ``id``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import PredictionException

from core.settings import load_settings
from serving.core import Predictor
from serving.torchserve.package import SERVING_FILE
from serving.v2 import V2Error, decode_tensors

BAD_REQUEST = 400


class FamilyHandler(BaseHandler):
    def initialize(self, context: Any) -> None:
        """Load the artifact unpacked from the ``.mar`` through the same core as runtime 1."""
        model_dir = Path(context.system_properties["model_dir"])
        manifest = context.manifest["model"]
        family = json.loads((model_dir / SERVING_FILE).read_text())["family"]
        predictor = Predictor.from_uri(family, model_dir / manifest["serializedFile"], load_settings())
        # the archive was built from a resolved registry version whose number the unpacked file no
        # longer carries; the manifest's version is the one the envelope reports, so keep them equal
        self.predictor = dataclasses.replace(predictor, model_version=manifest["modelVersion"])
        self.manifest = context.manifest
        self.initialized = True

    def preprocess(self, data: list[dict]) -> dict[str, np.ndarray]:
        """The envelope's v2 inputs -> named arrays of their declared datatypes."""
        try:
            inputs = decode_tensors(data, b"", "inputs")
        except V2Error as err:
            raise PredictionException(str(err), BAD_REQUEST) from None
        tensors: dict[str, np.ndarray] = {}
        for tensor in inputs:
            if tensor.name in tensors:
                raise PredictionException(f"{tensor.name}: input given more than once", BAD_REQUEST)
            tensors[tensor.name] = tensor.data
        return tensors

    def inference(self, data: dict[str, np.ndarray], *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        try:
            return self.predictor.predict(data)
        except ValueError as err:  # the schema's message names the tensor and the problem
            raise PredictionException(str(err), BAD_REQUEST) from None

    def postprocess(self, data: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs in schema order; the envelope names output i after ``context.input_names[i]``
        (it assumes one output per input), so that list becomes the output names."""
        names = [spec.name for spec in self.predictor.schema.outputs if spec.name in data]
        self.context.input_names = names
        return [data[name] for name in names]
