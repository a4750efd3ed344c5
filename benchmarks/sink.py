"""Inference-log sink ingest rate on loopback, durability on (every ack after fsync), beside a bare
aiohttp handler that reads and discards the same bodies.

Run: ``python -m benchmarks.sink [--inferences N]``. Starts the real sink process on a fresh
store and a bare aiohttp process (``--serve-bare PORT``: one handler that reads the body and answers
200), sends the same request + response events of the hearing-loss detector's real payload sizes
(two [150, 384] float32 tensors per request) to each in turn with 1, 4 and 16 concurrent senders,
and writes the table into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.results import write_section
from monitoring.client import request_event, response_event, send_events
from monitoring.sink import MAX_BODY

FRAMES, DIM = 150, 384  # a 30 s segment at 5 fps of 384-dim Marlin-Small features


def _stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as answer:
        return json.loads(answer.read())


def _events(count: int, start: int, binary: bool, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    tensors = {name: rng.standard_normal((FRAMES, DIM)).astype(np.float32) for name in ("current", "anchor")}
    events = []
    for i in range(start, start + count):
        meta = {
            "request_id": f"r{i}",
            "subject_pseudonym": f"s{i % 178}",
            "age": 18 + i % 70,
            "gender": "fm"[i % 2],
        }
        outputs = {"probability": 0.5, "label": 1, "threshold": 0.5, "age_estimate": 40.0}
        events.append(request_event(f"bench-{i}", "hl", tensors, meta, binary=binary))
        events.append(response_event(f"bench-{i}", "hl", "1", outputs))
    return events


def _median_ms(step: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def _event_costs(payload: str, binary: bool, rounds: int) -> str:
    from datetime import UTC, datetime

    from monitoring.events import parse_event
    from monitoring.records import tensor_summary
    from monitoring.store import encode_line
    from serving import v2

    request, response = _events(1, 0, binary)
    now = datetime.now(UTC)
    (half,) = parse_event(request.headers, request.body, now)
    length = {k.lower(): v for k, v in request.headers.items()}.get(v2.HEADER_LENGTH)
    head = request.body[: int(length)] if length else request.body
    tensors = {name: np.zeros((FRAMES, DIM), np.float32) for name in ("current", "anchor")}
    whole = _median_ms(
        lambda: [encode_line(h) for h in parse_event(request.headers, request.body, now)], rounds
    )
    decode = _median_ms(lambda: v2.loads_json(head, "body"), rounds)
    summaries = _median_ms(lambda: [tensor_summary(k, v) for k, v in tensors.items()], rounds)
    line = _median_ms(lambda: encode_line(half), rounds)
    convert = ""
    if not binary:  # v1's nested lists of numbers become arrays before they are summarised
        lists = v2.loads_json(head, "body")["instances"][0]
        seconds = _median_ms(lambda: [np.asarray(v, dtype=np.float64) for v in lists.values()], rounds)
        convert = f", nested lists -> arrays {seconds:.2f}"
    answer = _median_ms(
        lambda: [encode_line(h) for h in parse_event(response.headers, response.body, now)], rounds
    )
    return (
        f"{payload} request {whole:.2f} ms (JSON decoding {decode:.2f}{convert}, the two tensors' summaries "
        f"{summaries:.2f}, the journal line {line:.2f}), its response {answer:.2f} ms"
    )


def per_event_costs(rounds: int = 20) -> str:
    """Where one event's time goes in the sink's own code (in process, median of ``rounds``): the whole
    parse + journal encoding, and within it the JSON decoding, the tensor summaries, the journal line."""
    parts = [
        _event_costs(payload, binary, rounds) for payload, binary in (("v2 binary", True), ("v1 JSON", False))
    ]
    return (
        "Where an event's time goes in the sink's own code (`per_event_costs`, in process, median of 20): "
        + "; ".join(parts)
        + ". The rest of a sink event over the bare handler's is the commit's hop to the journal thread, "
        "the write and fsync, and the futures an acknowledgement waits on; client and servers share the "
        "cores with the other jobs of this machine, so rates move between runs and only the ratios of "
        "one run compare."
    )


def bare_app():
    """The floor: an aiohttp app whose one handler reads the body, discards it and answers 200."""
    from aiohttp import web

    async def discard(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"stored": 1})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/", discard)
    return app


def _wait(url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/", data=b"{}", timeout=5).read()
            return
        except OSError as err:
            # the sink answers a bare ``{}`` with a 400: it is up
            if getattr(err, "code", None) == 400:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.1)


def run(inferences: int, port: int = 8097) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Path(tmp, "sink.log").open("wb") as log:
        url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
        command = [sys.executable, "-m", "monitoring.sink", "--store", f"{tmp}/store", "--port", str(port)]
        sink = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        bare_command = [sys.executable, "-m", "benchmarks.sink", "--serve-bare", str(port + 1)]
        bare = subprocess.Popen(bare_command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(url, Path(tmp, "sink.log"))
            _wait(bare_url, Path(tmp, "sink.log"))
            start = 0
            for payload, binary, count in (
                ("v2 binary", True, inferences),
                ("v1 JSON", False, inferences // 5),
            ):
                for concurrency in (1, 4, 16):
                    events = _events(count, start, binary)
                    start += count
                    # the floor first, then the sink, on the same events and client load
                    floor = send_events(bare_url, events, concurrency=concurrency, deadline_s=600)
                    before = _stats(url)
                    report = send_events(url, events, concurrency=concurrency, deadline_s=600)
                    after = _stats(url)
                    if after["stored"] - before["stored"] != len(events):
                        raise RuntimeError(
                            f"sink stored {after['stored'] - before['stored']} of {len(events)}"
                        )
                    commits = after["commits"] - before["commits"]
                    rate, floor_rate = len(events) / report.seconds, len(events) / floor.seconds
                    rows.append(
                        {
                            "request payload": payload,
                            "senders": concurrency,
                            "events": len(events),
                            "MiB sent": round(sum(len(e.body) for e in events) / 2**20, 1),
                            "wall s": round(report.seconds, 2),
                            "events/s": round(rate),
                            "bare aiohttp events/s": round(floor_rate),
                            "sink / bare": round(rate / floor_rate, 2),
                            "events per fsync": round(len(events) / max(commits, 1), 1),
                        }
                    )
                    print(rows[-1], flush=True)
        finally:
            for process in (sink, bare):
                process.terminate()
                process.wait(timeout=30)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inferences", type=int, default=1000, help="per v2 run (v1 JSON runs send a fifth)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    parser.add_argument("--serve-bare", type=int, default=None, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare is not None:  # the floor's own process
        from aiohttp import web

        web.run_app(bare_app(), host="127.0.0.1", port=args.serve_bare, access_log=None, print=None)
        return
    table = run(args.inferences)
    print(table.to_markdown(index=False))
    if not args.no_write:
        notes = (
            "`python -m benchmarks.sink`: the real sink process (aiohttp, one event loop, one journal "
            "IO thread) on loopback, a fresh store, every acknowledgement after fsync of the journal "
            "(group commit). Each inference is two events: a request with two [150, 384] float32 "
            "tensors (the hearing-loss detector's payload; v2 binary ~0.46 MB, v1 JSON ~2.3 MB) and a v1 "
            "response. Senders: concurrent connections of one asyncio client process on the same 2 "
            "cores, so client and sink share the CPU. `bare aiohttp`: the same events from the same client "
            "to an aiohttp process whose one handler reads each body and answers 200 (no parsing, no "
            "storage), sent just before the sink's run: the floor of what an aiohttp service can ingest "
            "here. `sink / bare` is their ratio.\n\n" + per_event_costs()
        )
        print(write_section("Inference-log sink ingest", table, notes))


if __name__ == "__main__":
    main()
