"""Dynamic batching: the batcher on its own, and the kserve model batching a tiny real hearing-loss model."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from core.settings import load_settings
from models import get_family
from serving.batching import Batcher, BatchPolicy
from serving.kserve_model import FamilyModel

pytestmark = pytest.mark.unit

FAMILY = "hearing_loss"
SPEC = get_family(FAMILY)
CONFIG = SPEC.train.tiny()


def _batcher(policy: BatchPolicy, gate: threading.Event | None = None) -> tuple[Batcher, list[list]]:
    """A batcher whose run doubles each number (a negative one fails alone) and records its batches;
    with ``gate``, a batch holding 0 waits for it, keeping the worker busy while others queue."""
    seen: list[list] = []

    def run(items):
        seen.append(list(items))
        if gate is not None and 0 in items:
            gate.wait(10)
        return [ValueError(f"item {x} is negative") if x < 0 else 2 * x for x in items]

    return Batcher(run, policy, ThreadPoolExecutor(max_workers=1)), seen


def test_a_request_to_an_idle_batcher_runs_at_once_whatever_the_wait() -> None:
    batcher, seen = _batcher(BatchPolicy(max_batch_size=8, max_wait_ms=30_000))

    async def one():
        return await asyncio.wait_for(batcher.submit(3), timeout=5)  # a 30 s wait would time out here

    assert asyncio.run(one()) == 6
    assert seen == [[3]]


def test_requests_queued_behind_a_busy_worker_run_as_one_batch_each_with_its_own_answer() -> None:
    gate = threading.Event()
    batcher, seen = _batcher(BatchPolicy(max_batch_size=4, max_wait_ms=0), gate)

    async def scenario():
        first = asyncio.ensure_future(batcher.submit(0))  # finds the batcher idle, holds the worker
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit(x)) for x in (1, -2, 3, 4, 5, 6)]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(first, *rest, return_exceptions=True)
        return results

    results = asyncio.run(scenario())
    assert seen == [[0], [1, -2, 3, 4], [5, 6]]  # at most max_batch_size, in arrival order
    assert results[0] == 0 and results[1] == 2 and results[3:] == [6, 8, 10, 12]
    assert isinstance(results[2], ValueError) and "item -2" in str(results[2])  # it failed alone
    assert batcher.batch_sizes == {1: 1, 4: 1, 2: 1}


def test_a_queued_request_waits_for_its_batch_to_fill_at_most_max_wait() -> None:
    gate = threading.Event()
    batcher, seen = _batcher(BatchPolicy(max_batch_size=3, max_wait_ms=300), gate)

    async def scenario():
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.submit(1))  # queued behind the busy worker
        gate.set()  # the worker frees at once; the queued one waits for company up to 300 ms
        await asyncio.sleep(0.1)
        third = asyncio.ensure_future(batcher.submit(2))  # arrives within the wait: joins the batch
        return await asyncio.gather(first, second, third)

    assert asyncio.run(scenario()) == [0, 2, 4]
    assert seen == [[0], [1, 2]]


def test_policy_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="max_batch_size: 0 must be >= 1"):
        BatchPolicy(max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms: -1"):
        BatchPolicy(max_wait_ms=-1)


@pytest.fixture(scope="module")
def kserve_model(trained_tiny) -> FamilyModel:
    model = FamilyModel("hl", FAMILY, str(trained_tiny(CONFIG)), load_settings({}), BatchPolicy(16, 0))
    model.load()
    return model


def _v2(tensors: dict, request_id: str, parameters: dict) -> InferRequest:
    inputs = []
    for name, value in tensors.items():
        infer_input = InferInput(name, list(value.shape), "FP32")
        infer_input.set_data_from_numpy(value, binary_data=True)
        inputs.append(infer_input)
    return InferRequest(model_name="hl", infer_inputs=inputs, request_id=request_id, parameters=parameters)


def test_concurrent_mixed_length_requests_batch_and_each_gets_its_unbatched_answer(
    kserve_model: FamilyModel,
) -> None:
    """v2 and v1 requests of 1-200 frames arriving together share forward passes; every answer is its
    unbatched one, with its own id and metadata; the malformed ones fail alone with their own error."""
    frames = (150, 7, 200, 1, 60, 33)
    examples = [SPEC.serve.example(CONFIG, seed=i, frames=n) for i, n in enumerate(frames)]
    payloads: list = [
        _v2(t, f"req-{i}", {"request_id": f"req-{i}", "subject_pseudonym": f"s{i}", "age": 20 + i})
        for i, t in enumerate(examples[:4])
    ]
    metadata = {"request_id": "v1-4", "age": 64}
    payloads.append({"instances": [{k: v.tolist() for k, v in examples[4].items()}], "metadata": metadata})
    payloads.append(_v2(examples[5], "req-5", {}))
    nan = examples[1]["current"].copy()
    nan[2, 3] = np.nan
    payloads.insert(2, _v2({**examples[1], "current": nan}, "bad-nan", {}))
    payloads.insert(5, {"instances": [{"current": examples[0]["current"].tolist()}]})  # no anchor
    before = sum(kserve_model.batcher.batch_sizes.values())

    async def together():
        return await asyncio.gather(*(kserve_model(p) for p in payloads), return_exceptions=True)

    results = asyncio.run(together())
    batches = sum(kserve_model.batcher.batch_sizes.values()) - before
    assert batches < len(payloads)  # they shared forward passes
    bad_nan, bad_v1 = results.pop(2), results.pop(4)
    assert isinstance(bad_nan, InvalidInput) and "current: contains NaN" in bad_nan.reason
    assert (
        isinstance(bad_v1, InvalidInput) and "instances[0].missing input tensor(s): anchor" in bad_v1.reason
    )
    for i, (result, tensors) in enumerate(zip(results, examples, strict=True)):
        response, _headers = result
        alone = kserve_model.predictor.predict(tensors)
        if i == 4:
            assert response["metadata"] == metadata
            (got,) = response["predictions"]
        else:
            assert isinstance(response, InferResponse) and response.id == f"req-{i}"
            expected = (
                {"request_id": f"req-{i}", "subject_pseudonym": f"s{i}", "age": 20 + i} if i < 4 else None
            )
            assert response.parameters == expected
            got = {out.name: out.data for out in response.outputs}
        assert set(got) == set(alone)
        for name, value in alone.items():
            np.testing.assert_allclose(np.asarray(got[name]), value, rtol=1e-5, atol=1e-6)


def test_a_family_without_predict_batch_is_served_one_request_at_a_time(
    trained_tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    import serving.core

    unbatched = dataclasses.replace(SPEC, serve=dataclasses.replace(SPEC.serve, predict_batch=None))
    monkeypatch.setattr(serving.core, "get_family", lambda name: unbatched)
    model = FamilyModel("hl", FAMILY, str(trained_tiny(CONFIG)), load_settings({}), BatchPolicy(16, 0))
    model.load()
    assert model.batcher.policy.max_batch_size == 1
    examples = [SPEC.serve.example(CONFIG, seed=i, frames=n) for i, n in enumerate((20, 40, 80))]

    async def together():
        return await asyncio.gather(*(model(_v2(t, f"r{i}", {})) for i, t in enumerate(examples)))

    results = asyncio.run(together())
    assert model.batcher.batch_sizes == {1: 3}
    for (response, _), tensors in zip(results, examples, strict=True):
        got = {out.name: out.data for out in response.outputs}
        np.testing.assert_allclose(
            got["probability"], model.predictor.predict(tensors)["probability"], rtol=1e-6
        )
