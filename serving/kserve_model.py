"""Runtime 1: any family's predictor core as a ``kserve.Model`` (v1 and Open Inference Protocol v2).

v2 (REST JSON, REST binary tensor extension, gRPC) arrives as a decoded ``InferRequest`` whose
named inputs are one request. v1 is ``{"instances": [{NAME: nested lists, ...}], "metadata": {...}}``,
one instance per request; ``metadata`` is echoed in the response for the inference log and never
reaches the model. Bad input raises kserve's ``InvalidInput`` (HTTP 400, gRPC INVALID_ARGUMENT)
naming the field.

Concurrent requests are batched (``serving.batching``): a batch's requests are decoded and checked one
by one, so a bad one fails alone with its own error; the good ones go through one forward pass (the
family's ``predict_batch``) and each gets its own response, id and metadata. A family without
``predict_batch`` is served one request at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kserve
import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from core.settings import Settings, load_settings
from serving.batching import Batcher, BatchPolicy
from serving.core import Predictor
from serving.v2 import from_np_dtype

Payload = dict | InferRequest
Response = dict | InferResponse


class FamilyModel(kserve.Model):
    def __init__(
        self,
        name: str,
        family: str,
        model_uri: str,
        settings: Settings | None = None,
        batching: BatchPolicy | None = None,
    ) -> None:
        super().__init__(name)
        self.family = family
        self.model_uri = model_uri
        self.settings = settings
        self.batching = batching or BatchPolicy()
        self.predictor: Predictor | None = None
        # kserve 0.21 awaits an async predict but calls a sync one on the event loop (Model.__call__),
        # which would stall every other request (health probes included) for a whole forward pass.
        # One worker thread: torch already spreads one forward over the cores, so concurrent forwards
        # would only oversubscribe them; requests queue in the batcher while the loop decodes the next.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{name}")
        self.batcher: Batcher[Payload, Response] | None = None

    def load(self) -> bool:
        self.predictor = Predictor.from_uri(self.family, self.model_uri, self.settings or load_settings())
        policy = self.batching if self.predictor.batches else BatchPolicy(1, 0.0)
        self.batcher = Batcher(self.predict_many, policy, self._worker)
        self.ready = True
        return self.ready

    def stop(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    @property
    def model_version(self) -> str | None:
        return self.predictor.model_version if self.predictor else None

    async def predict(
        self,
        payload: Payload,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> Response:
        if self.batcher is None:
            raise RuntimeError(f"model {self.name} is not loaded")
        return await self.batcher.submit(payload)

    def predict_many(self, payloads: Sequence[Payload]) -> list[Response | InvalidInput]:
        """Several requests on the calling thread: each decoded and checked alone, the valid ones
        predicted together, each answered with its own response or its own ``InvalidInput``."""
        results: list[Any] = [None] * len(payloads)
        accepted: list[tuple[int, list[dict[str, np.ndarray]]]] = []
        for index, payload in enumerate(payloads):
            try:
                accepted.append((index, self._inputs(payload)))
            except InvalidInput as err:
                results[index] = err
        flat = [tensors for _, instances in accepted for tensors in instances]
        try:
            outputs = self.predictor.predict_checked(flat)
        except ValueError:
            # a request the schema passed but the model refused (the family's own checks): run each
            # request alone, so that only the one at fault fails
            outputs = None
        start = 0
        for index, instances in accepted:
            try:
                if outputs is None:
                    mine = [
                        self._predict_one(tensors, i, payloads[index]) for i, tensors in enumerate(instances)
                    ]
                else:
                    mine = outputs[start : start + len(instances)]
                results[index] = self._respond(payloads[index], mine)
            except InvalidInput as err:
                results[index] = err
            start += len(instances)
        return results

    def _inputs(self, payload: Payload) -> list[dict[str, np.ndarray]]:
        """A request's checked tensors: one dict for v2, one per instance for v1; InvalidInput if bad."""
        if self.predictor is None:
            raise RuntimeError(f"model {self.name} is not loaded")
        if isinstance(payload, InferRequest):
            return [self._check(self._v2_tensors(payload))]
        return [
            self._check(tensors, f"instances[{index}].")
            for index, tensors in enumerate(self._v1_tensors(payload))
        ]

    def _check(self, tensors: dict[str, np.ndarray], where: str = "") -> dict[str, np.ndarray]:
        try:
            self.predictor.schema.check_inputs(tensors)
        except ValueError as err:  # the schema's message names the tensor and the problem
            raise InvalidInput(f"{where}{err}") from None
        return tensors

    def _predict_one(
        self, tensors: dict[str, np.ndarray], index: int, payload: Payload
    ) -> dict[str, np.ndarray]:
        try:
            (outputs,) = self.predictor.predict_checked([tensors])
        except ValueError as err:
            where = "" if isinstance(payload, InferRequest) else f"instances[{index}]."
            raise InvalidInput(f"{where}{err}") from None
        return outputs

    def _respond(self, payload: Payload, outputs: list[dict[str, np.ndarray]]) -> Response:
        if isinstance(payload, InferRequest):
            return self._v2_response(payload, outputs[0])
        response = {
            "model_name": self.name,
            "model_version": self.model_version,
            "predictions": [{name: value.tolist() for name, value in out.items()} for out in outputs],
        }
        if payload.get("metadata") is not None:
            response["metadata"] = payload["metadata"]
        return response

    @staticmethod
    def _v2_tensors(request: InferRequest) -> dict[str, np.ndarray]:
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
        return tensors

    def _v2_response(self, request: InferRequest, result: dict[str, np.ndarray]) -> InferResponse:
        outputs = [
            InferOutput(name, list(value.shape), from_np_dtype(value.dtype), data=value)
            for name, value in result.items()
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

    def _v1_tensors(self, payload: Any) -> list[dict[str, np.ndarray]]:
        if not isinstance(payload, dict):
            raise InvalidInput(f"request body must be a JSON object, got {type(payload).__name__}")
        instances = payload.get("instances")
        if not isinstance(instances, list) or not instances:
            raise InvalidInput("instances: must be a non-empty list of objects of named tensors")
        metadata = payload.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInput(f"metadata: must be an object, got {type(metadata).__name__}")
        decoded = []
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise InvalidInput(f"instances[{index}]: must be an object of named tensors")
            try:
                decoded.append(self.predictor.coerce_json(instance))
            except ValueError as err:
                raise InvalidInput(f"instances[{index}].{err}") from None
        return decoded
