"""Runtime 1: any family's predictor core as a ``kserve.Model`` (v1 and Open Inference Protocol v2).

v2 (REST JSON, REST binary tensor extension, gRPC) arrives as a decoded ``InferRequest`` whose
named inputs are one request. v1 is ``{"instances": [{NAME: nested lists, ...}], "metadata": {...}}``,
one instance per request; ``metadata`` is echoed in the response for the inference log and never
reaches the model. Bad input raises kserve's ``InvalidInput`` (HTTP 400, gRPC INVALID_ARGUMENT)
naming the field.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kserve
import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from core.settings import Settings, load_settings
from serving.core import Predictor
from serving.v2 import from_np_dtype


class FamilyModel(kserve.Model):
    def __init__(self, name: str, family: str, model_uri: str, settings: Settings | None = None) -> None:
        super().__init__(name)
        self.family = family
        self.model_uri = model_uri
        self.settings = settings
        self.predictor: Predictor | None = None
        # kserve 0.21 awaits an async predict but calls a sync one on the event loop (Model.__call__),
        # which would stall every other request (health probes included) for a whole forward pass.
        # One worker thread: torch already spreads one forward over the cores, so concurrent forwards
        # would only oversubscribe them; requests queue here while the loop keeps decoding the next.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{name}")

    def load(self) -> bool:
        self.predictor = Predictor.from_uri(self.family, self.model_uri, self.settings or load_settings())
        self.ready = True
        return self.ready

    def stop(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    @property
    def model_version(self) -> str | None:
        return self.predictor.model_version if self.predictor else None

    async def predict(
        self,
        payload: dict | InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict | InferResponse:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self.predict_now, payload)

    def predict_now(self, payload: dict | InferRequest) -> dict | InferResponse:
        """The whole request on the calling thread: decode, check, predict, shape the response."""
        if self.predictor is None:
            raise RuntimeError(f"model {self.name} is not loaded")
        if isinstance(payload, InferRequest):
            return self._predict_v2(payload)
        return self._predict_v1(payload)

    def _run(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return self.predictor.predict(tensors)
        except ValueError as err:  # the schema's message names the tensor and the problem
            raise InvalidInput(str(err)) from None

    def _predict_v2(self, request: InferRequest) -> InferResponse:
        tensors: dict[str, np.ndarray] = {}
        for infer_input in request.inputs:
            name = infer_input.name
            if name in tensors:
                raise InvalidInput(f"{name}: input given more than once")
            try:
                tensors[name] = infer_input.as_numpy()
            except (ValueError, TypeError) as err:  # unknown datatype, data not matching its shape
                raise InvalidInput(
                    f"{name}: cannot decode as {infer_input.datatype} {list(infer_input.shape)}: {err}"
                ) from None
        outputs = [
            InferOutput(name, list(value.shape), from_np_dtype(value.dtype), data=value)
            for name, value in self._run(tensors).items()
        ]
        # metadata fields sent as request parameters go back with the response, never to the model
        fields = self.predictor.schema.metadata
        passthrough = {k: v for k, v in (request.parameters or {}).items() if k in fields}
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            infer_outputs=outputs,
            model_version=self.model_version,
            parameters=passthrough or None,
            use_binary_outputs=request.use_binary_outputs,
            requested_outputs=request.request_outputs,
        )

    def _predict_v1(self, payload: Any) -> dict:
        if not isinstance(payload, dict):
            raise InvalidInput(f"request body must be a JSON object, got {type(payload).__name__}")
        instances = payload.get("instances")
        if not isinstance(instances, list) or not instances:
            raise InvalidInput("instances: must be a non-empty list of objects of named tensors")
        metadata = payload.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInput(f"metadata: must be an object, got {type(metadata).__name__}")
        predictions = []
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise InvalidInput(f"instances[{index}]: must be an object of named tensors")
            try:
                tensors = self.predictor.coerce_json(instance)
            except ValueError as err:
                raise InvalidInput(f"instances[{index}].{err}") from None
            try:
                outputs = self._run(tensors)
            except InvalidInput as err:
                raise InvalidInput(f"instances[{index}].{err.reason}") from None
            predictions.append({name: value.tolist() for name, value in outputs.items()})
        response = {"model_name": self.name, "model_version": self.model_version, "predictions": predictions}
        if metadata is not None:
            response["metadata"] = metadata
        return response
