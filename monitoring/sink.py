"""The inference-log sink: an HTTP service that receives KServe logger CloudEvents and stores them.

aiohttp, one process, one event loop: on 2 cores a single loop parsing events and one IO thread
fsyncing the journal beats worker processes that would contend for the same journal and its
de-duplication set. An event is acknowledged (200) only after its journal line is fsynced;
concurrent events share one write + fsync (group commit: while one fsync runs, the next batch
gathers). Events already stored, before or after a restart, are acknowledged without being stored
again (key: ce-id, ce-type). A malformed event gets a 400 naming the problem and is counted.

Endpoints: ``POST /`` (KServe's logger posts to the URL as given) and ``POST /events``;
``POST /labels`` (JSON list of label rows); ``GET /stats`` (JSON counters); ``GET /metrics``
(Prometheus text); ``GET /healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from aiohttp import web

from monitoring.events import EventError, Half, parse_event
from monitoring.labels import add_labels
from monitoring.store import InferenceStore, Journal, default_root, encode_line

log = logging.getLogger(__name__)
MAX_BODY = 64 * 2**20  # a v1 JSON request of two [600, 384] tensors is ~10 MB


class Sink:
    """Validation, de-duplication and group commit; the aiohttp handlers are thin wrappers."""

    def __init__(self, store: InferenceStore, compact_interval: float = 60.0) -> None:
        self.store = store
        self.compact_interval = compact_interval
        self.counters: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._compactor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compact")
        self._pending: list[tuple[bytes, asyncio.Future, list[str]]] = []
        self._inflight: dict[str, asyncio.Future] = {}
        self._writer: asyncio.Task | None = None
        self._compacting: asyncio.Task | None = None
        self.journal: Journal | None = None
        self.keys: set[str] = set()

    async def start(self, _app: web.Application | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.journal = Journal(self.store.root)
        # every key ever stored; ~100 bytes each in memory (a few million events per GiB)
        self.keys = await loop.run_in_executor(self._io, self.store.logged_keys)
        if self.compact_interval > 0:
            self._compacting = asyncio.create_task(self._compact_loop())
        log.info("sink on %s: %d events already stored", self.store.root, len(self.keys))

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._compacting:
            self._compacting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compacting
        if self._writer:
            await self._writer
        self._compactor.shutdown(wait=True)
        self._io.shutdown(wait=True)
        if self.journal:
            self.journal.close()

    async def ingest(self, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        """Status and JSON answer for one posted event."""
        self.counters["received"] += 1
        try:
            halves = parse_event(headers, body, datetime.now(UTC))
        except EventError as err:
            self.rejected[err.reason] += 1
            return 400, {"error": str(err), "reason": err.reason}
        waits = [self._inflight[h.key] for h in halves if h.key in self._inflight]
        new = [h for h in halves if h.key not in self.keys and h.key not in self._inflight]
        if new:
            waits.append(self._enqueue(new))
        try:
            # shielded: a client that goes away must not cancel a commit other events wait on
            await asyncio.shield(asyncio.gather(*waits))
        except OSError as err:
            self.counters["write_errors"] += 1
            return 503, {"error": f"journal write failed, retry: {err}"}
        if new:
            self.counters["stored"] += 1
            return 200, {"stored": len(new)}
        self.counters["duplicates"] += 1
        return 200, {"duplicate": True}

    def _enqueue(self, halves: list[Half]) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        keys = [h.key for h in halves]
        for key in keys:
            self._inflight[key] = future
        self._pending.append((b"".join(encode_line(h) for h in halves), future, keys))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        return future

    async def _write_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await loop.run_in_executor(self._io, self.journal.append, b"".join(b for b, _, _ in batch))
            except OSError as err:
                error = err
            else:
                error = None
                self.counters["commits"] += 1
            for _, future, keys in batch:
                for key in keys:
                    self._inflight.pop(key, None)
                    if error is None:
                        self.keys.add(key)
                if future.done():  # its request was cancelled (client gone); the write stands anyway
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
                    future.exception()  # retrieved here too: a batch may have no other waiter left

    async def _compact_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.compact_interval)
            await self.compact_now(loop)

    async def compact_now(self, loop: asyncio.AbstractEventLoop | None = None) -> int:
        loop = loop or asyncio.get_running_loop()
        if self.journal.active.stat().st_size:
            await loop.run_in_executor(self._io, self.journal.rotate)  # between two group commits
        try:
            written = await loop.run_in_executor(self._compactor, self.store.compact, self.journal)
        except OSError:
            log.exception("compaction failed; the journal keeps the events, retrying next round")
            return 0
        self.counters["compacted"] += written
        return written

    def stats(self) -> dict:
        counters = dict.fromkeys(("received", "stored", "duplicates", "commits"), 0) | dict(self.counters)
        return {**counters, "rejected": dict(self.rejected), "rejected_total": sum(self.rejected.values())}


def make_app(store: InferenceStore, compact_interval: float = 60.0) -> web.Application:
    sink = Sink(store, compact_interval)
    app = web.Application(client_max_size=MAX_BODY)
    app["sink"] = sink
    app.on_startup.append(sink.start)
    app.on_cleanup.append(sink.stop)

    async def event(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            sink.counters["received"] += 1
            sink.rejected["too_large"] += 1
            return web.json_response(
                {"error": f"body: larger than {MAX_BODY} bytes", "reason": "too_large"}, status=413
            )
        status, answer = await sink.ingest(dict(request.headers), body)
        return web.json_response(answer, status=status)

    async def labels(request: web.Request) -> web.Response:
        try:
            rows = await request.json()
        except ValueError as err:
            return web.json_response({"error": f"body: not JSON: {err}"}, status=400)
        if not isinstance(rows, list):
            return web.json_response({"error": "body: must be a JSON list of label rows"}, status=400)
        loop = asyncio.get_running_loop()
        try:
            added = await loop.run_in_executor(None, add_labels, pd.DataFrame(rows), store.root)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        sink.counters["labels"] += added
        return web.json_response({"added": added})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(sink.stats())

    async def metrics(_request: web.Request) -> web.Response:
        lines = [f"affectops_sink_{k}_total {v}" for k, v in sink.counters.items()]
        lines += [f'affectops_sink_rejected_total{{reason="{k}"}} {v}' for k, v in sink.rejected.items()]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_post("/", event)
    app.router.add_post("/events", event)
    app.router.add_post("/labels", labels)
    app.router.add_get("/stats", stats)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def run_sink(
    store_root: Path,
    host: str = "127.0.0.1",
    port: int = 8090,
    *,
    remote: str | None = None,
    compact_interval: float = 60.0,
) -> None:
    """Serve until SIGINT / SIGTERM. ``remote``: s3:// prefix that compacted partitions go to."""
    store = InferenceStore(Path(store_root), remote=remote)
    web.run_app(make_app(store, compact_interval), host=host, port=port, access_log=None, print=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m monitoring.sink", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, default=None, help="store root (default $AFFECTOPS_HOME/inference-log)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--remote", default=None, help="s3://bucket/prefix for compacted partitions")
    parser.add_argument("--compact-interval", type=float, default=60.0, help="seconds; 0 = never")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_sink(
        args.store or default_root(),
        args.host,
        args.port,
        remote=args.remote,
        compact_interval=args.compact_interval,
    )


if __name__ == "__main__":
    main()
