"""Dynamic batching: concurrent requests to one model gathered into one call on its worker thread.

A request that finds the model idle (nothing running, nothing queued) runs at once, so batching adds
no latency at low load. Requests that arrive while a batch runs queue up; when the worker is free the
queue is taken as the next batch, up to ``max_batch_size``. A queued request waits at most
``max_wait_ms`` from its arrival for the batch to fill before it is sent as it is: at a steady load
the worker's own run time gathers the batch, and the wait only bounds how long the worker may hold a
part-filled one (TorchServe's ``max_batch_delay``, KServe's batcher ``maxLatency``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_MS = 5.0


@dataclass(frozen=True)
class BatchPolicy:
    """How many requests one call may take, and how long a queued one may wait for the batch to fill."""

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size: {self.max_batch_size} must be >= 1 (1: no batching)")
        if not 0 <= self.max_wait_ms <= 60_000:
            raise ValueError(f"max_wait_ms: {self.max_wait_ms} must lie in [0, 60000]")


def add_batching_arguments(parser: argparse.ArgumentParser) -> None:
    """``--max-batch-size`` and ``--max-batch-wait-ms``: the model's ``BatchPolicy``."""
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=DEFAULT_MAX_BATCH_SIZE,
        help=f"most requests in one forward pass (1: no batching; default {DEFAULT_MAX_BATCH_SIZE})",
    )
    parser.add_argument(
        "--max-batch-wait-ms",
        type=float,
        default=DEFAULT_MAX_WAIT_MS,
        help="longest a queued request waits for its batch to fill; a request to an idle model never waits "
        f"(default {DEFAULT_MAX_WAIT_MS:g})",
    )


def batch_policy(parser: argparse.ArgumentParser, args: argparse.Namespace) -> BatchPolicy:
    """The parsed ``BatchPolicy``; a bad value is the parser's usage error."""
    try:
        return BatchPolicy(args.max_batch_size, args.max_batch_wait_ms)
    except ValueError as err:
        parser.error(str(err))


@dataclass
class _Job(Generic[Item]):
    item: Item
    future: asyncio.Future
    arrived: float  # time.monotonic()
    found_idle: bool  # nothing ran and nothing queued when it arrived: it runs at once


class Batcher(Generic[Item, Result]):
    """Runs ``run(items) -> one result or exception per item`` on ``executor``, one batch at a time.

    ``submit`` returns the item's own result or raises its own exception, so one bad item fails
    alone. All state is touched on the event loop only; the drain task lives while work is queued,
    so a batcher may serve several event loops one after another (tests call it with
    ``asyncio.run``).
    """

    def __init__(
        self,
        run: Callable[[Sequence[Item]], Sequence[Result | BaseException]],
        policy: BatchPolicy,
        executor: Executor,
    ) -> None:
        self.run = run
        self.policy = policy
        self.executor = executor
        self.batch_sizes: Counter[int] = Counter()  # batch size -> how many batches ran at that size
        self._queue: list[_Job[Item]] = []
        self._running = False
        self._filled: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        job = _Job(item, loop.create_future(), time.monotonic(), not self._running and not self._queue)
        self._queue.append(job)
        if not self._running:
            self._running = True
            self._filled = asyncio.Event()
            self._task = loop.create_task(self._drain())  # held: the loop keeps weak references only
        elif len(self._queue) >= self.policy.max_batch_size and self._filled is not None:
            self._filled.set()
        return await job.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                first = self._queue[0]
                wait = first.arrived + self.policy.max_wait_ms / 1e3 - time.monotonic()
                if not first.found_idle and wait > 0 and len(self._queue) < self.policy.max_batch_size:
                    self._filled.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._filled.wait(), wait)
                batch = [job for job in self._queue[: self.policy.max_batch_size] if not job.future.done()]
                del self._queue[: self.policy.max_batch_size]
                if not batch:  # every one was cancelled (its client went away)
                    continue
                self.batch_sizes[len(batch)] += 1
                try:
                    results: Sequence[Any] = await loop.run_in_executor(
                        self.executor, self.run, [job.item for job in batch]
                    )
                except Exception as err:  # the whole call failed: every request in it gets the error
                    results = [err] * len(batch)
                for job, result in zip(batch, results, strict=True):
                    if job.future.done():
                        continue
                    if isinstance(result, BaseException):
                        job.future.set_exception(result)
                    else:
                        job.future.set_result(result)
        finally:
            self._running = False
