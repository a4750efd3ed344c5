"""Raw media in, prediction out: a KServe transformer in front of any family's predictor.

The family's ``Media`` (``models.common.media``, found as ``models.get_family(family).serve.media``) names the
raw inputs a request may carry: for each predictor input, one or more forms (an encoded file as a
``BYTES [1]`` tensor, which needs the binary tensor data extension since JSON strings cannot carry
it; a batch of frames...), their shapes, the request parameters they need and a size limit. Request
parameters named in ``Media.metadata`` are monitoring metadata, passed to the predictor untouched (it
echoes them for the inference log; they never reach a model).

A request is checked against ``Media.inputs`` here, then the family's preprocessor turns the raw
inputs into the predictor's float tensors, which are forwarded to the predictor as a binary v2
request. The response is the predictor's outputs with its model version.

Bad input is a 400 (kserve ``InvalidInput``) naming the field: an unknown input, a missing one, two
forms of one, a wrong datatype or shape, an input over its byte limit, a missing parameter, or
whatever the preprocessor refuses (``MediaError``).
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import kserve
import numpy as np
from kserve.errors import InferenceError, InvalidInput
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from core.settings import Settings, load_settings
from core.storage import resolve_weights
from models import DEFAULT_FAMILY, FAMILIES, get_family
from models.common.media import Media, MediaError, MediaInput, MediaPreprocessor
from serving import v2
from serving.core import ENVELOPE_BYTES


def family_media(family: str | None) -> tuple[str, Media]:
    """``family`` and its Media; ``None`` means the headline family (``models.DEFAULT_FAMILY``)."""
    with_media = sorted(name for name, spec in FAMILIES.items() if spec.serve.media is not None)
    family = family or DEFAULT_FAMILY
    media = get_family(family).serve.media
    if media is None:
        raise ValueError(
            f"family {family!r} has no raw-media preprocessing (its spec's serve.media); "
            f"families that have: {', '.join(with_media) or 'none'}"
        )
    return family, media


class MediaTransformer(kserve.Model):
    """Preprocesses the raw media of a request and forwards the tensors to ``predictor_host``.

    The model name must equal the predictor's: KServe routes ``/v2/models/NAME/infer`` to both.
    ``weights`` (local path or ``s3://`` prefix) and ``config`` go to the family's preprocessor loader;
    ``max_input_bytes`` replaces every input's own limit.
    """

    def __init__(
        self,
        name: str,
        predictor_host: str,
        media: Media,
        weights: str | None,
        *,
        config: Any = None,
        allow_random_weights: bool = False,
        max_input_bytes: int | None = None,
        timeout_s: float = 60.0,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(name)
        self.predictor_host = predictor_host
        self.media = media
        self.weights = weights
        self.config = media.config if config is None else config
        self.allow_random_weights = allow_random_weights
        self.max_input_bytes = max_input_bytes
        self.timeout_s = timeout_s
        self.settings = settings
        self.preprocessor: MediaPreprocessor | None = None
        self._client: httpx.AsyncClient | None = None
        # preprocessing is seconds of CPU: off the event loop, so health probes keep answering, and one
        # at a time, since torch and OpenCV already spread one request over the cores
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"preprocess-{name}")

    def load(self) -> bool:
        path = (
            None if self.weights is None else resolve_weights(self.weights, self.settings or load_settings())
        )
        self.preprocessor = self.media.load(path, self.config, allow_random_weights=self.allow_random_weights)
        self.ready = True
        return self.ready

    def stop(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _limit(self, spec: MediaInput) -> int:
        return spec.max_bytes if self.max_input_bytes is None else self.max_input_bytes

    @property
    def max_request_bytes(self) -> int:
        """The largest valid request: the largest form of every tensor and the JSON header around them."""
        largest = {tensor: 0 for tensor in self.media.tensors}
        for spec in self.media.inputs:
            largest[spec.tensor] = max(largest[spec.tensor], self._limit(spec))
        return sum(largest.values()) + ENVELOPE_BYTES

    async def preprocess(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> InferRequest:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self.preprocess_now, payload)

    def preprocess_now(self, payload: dict | InferRequest) -> InferRequest:
        """The raw-media request -> the predictor's v2 request (float32 tensors, metadata parameters)."""
        if self.preprocessor is None:
            raise RuntimeError(f"transformer {self.name} is not loaded")
        if not isinstance(payload, InferRequest):
            raise InvalidInput("request: this endpoint takes Open Inference Protocol v2 requests only")
        parameters = payload.parameters or {}
        inputs = self._check(payload, parameters)
        try:
            tensors = self.preprocessor(inputs, parameters)
        except MediaError as err:
            raise InvalidInput(str(err)) from None
        return InferRequest(
            model_name=self.name,
            infer_inputs=[
                InferInput(name, list(value.shape), "FP32", data=np.asarray(value, np.float32))
                for name, value in tensors.items()
            ],
            request_id=payload.id or str(uuid.uuid4()),
            parameters={k: v for k, v in parameters.items() if k in self.media.metadata} or None,
        )

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        """Forward to the predictor over v2 REST, binary tensors both ways decoded by ``serving.v2``."""
        tensors = [v2.Tensor(i.name, i.datatype, tuple(i.shape), i.as_numpy()) for i in payload.inputs]
        document: dict[str, Any] = {"id": payload.id}
        if payload.parameters:
            document["parameters"] = payload.parameters
        body, json_length = v2.encode(document, "inputs", tensors, binary=True)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        url = f"http://{self.predictor_host}/v2/models/{self.name}/infer"
        try:
            response = await self._client.post(
                url,
                content=body,
                headers={v2.HEADER_LENGTH: str(json_length), "content-type": "application/octet-stream"},
            )
        except httpx.HTTPError as err:
            raise InferenceError(f"predictor {self.predictor_host}: {type(err).__name__}: {err}") from None
        if response.status_code >= 400:
            message = f"predictor {self.predictor_host} answered {response.status_code}: {_error(response)}"
            raise InvalidInput(message) if response.status_code < 500 else InferenceError(message)
        try:
            document, outputs = v2.decode_response(response.content, response.headers.get(v2.HEADER_LENGTH))
        except v2.V2Error as err:
            raise InferenceError(f"predictor {self.predictor_host}: unreadable response: {err}") from None
        return InferResponse(
            response_id=document.get("id") or payload.id,
            model_name=self.name,
            infer_outputs=[InferOutput(t.name, list(t.shape), t.datatype, data=t.data) for t in outputs],
            model_version=document.get("model_version"),
            parameters=document.get("parameters"),
        )

    async def postprocess(
        self,
        result: dict | InferResponse,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        return result  # the predictor's outputs, metadata parameters and model version, as they came

    def _check(self, request: InferRequest, parameters: dict[str, Any]) -> dict[str, np.ndarray]:
        """The request's raw inputs by name, each checked against its spec; one form per tensor."""
        specs = {spec.name: spec for spec in self.media.inputs}
        inputs: dict[str, np.ndarray] = {}
        for infer_input in request.inputs:
            name = infer_input.name
            spec = specs.get(name)
            if spec is None:
                raise InvalidInput(f"{name}: unknown input; expected some of {', '.join(sorted(specs))}")
            if name in inputs:
                raise InvalidInput(f"{name}: input given more than once")
            inputs[name] = self._checked(spec, infer_input, parameters)
        for tensor in self.media.tensors:
            forms = [spec for spec in self.media.inputs if spec.tensor == tensor]
            given = [spec.name for spec in forms if spec.name in inputs]
            if len(given) > 1:
                raise InvalidInput(f"{tensor}: give {' or '.join(given)}, not both")
            if not given:
                raise InvalidInput(
                    f"{tensor}: missing; send {' or '.join(_describe(spec) for spec in forms)}"
                )
        return inputs

    def _checked(self, spec: MediaInput, infer_input: InferInput, parameters: dict[str, Any]) -> np.ndarray:
        field, shape = spec.name, list(infer_input.shape)
        if infer_input.datatype != spec.datatype:
            raise InvalidInput(
                f"{field}: datatype must be {spec.datatype} ({spec.description}), got {infer_input.datatype}"
            )
        if len(shape) != len(spec.shape) or any(
            isinstance(want, int) and want != got for want, got in zip(spec.shape, shape, strict=True)
        ):
            raise InvalidInput(f"{field}: shape must be {_shape(spec)} ({spec.description}), got {shape}")
        array = infer_input.as_numpy()
        if spec.datatype == "BYTES":
            if not all(isinstance(item, bytes) for item in array.flat):
                raise InvalidInput(
                    f"{field}: send {spec.description} as binary data (v2 binary tensor extension)"
                )
            size = sum(len(item) for item in array.flat)
        else:
            size = array.nbytes
        if size > self._limit(spec):
            raise InvalidInput(
                f"{field}: {size} bytes exceeds the limit of {self._limit(spec)} bytes per input"
            )
        for parameter in spec.parameters:
            if parameter not in parameters:
                raise InvalidInput(f"{parameter}: {field} needs the request parameter {parameter}; got none")
        return array


def _shape(spec: MediaInput) -> str:
    return f"[{', '.join(map(str, spec.shape))}]"


def _describe(spec: MediaInput) -> str:
    needs = "".join(f", with the {p} parameter" for p in spec.parameters)
    return f"{spec.name} ({spec.datatype} {_shape(spec)}, {spec.description}{needs})"


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:500]
