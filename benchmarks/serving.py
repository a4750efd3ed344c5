"""Serving overhead and dynamic batching: the hearing-loss detector behind KServe's ModelServer and
TorchServe, batched and unbatched, vs its raw forward pass.

``python -m benchmarks.serving [--quick]``: one request = two [150, 384] float32 tensors (a 30 s
segment and its anchor); model = the default config (GRU 256) with random weights (speed does not
depend on training). For each ``Target`` in ``targets()`` (KServe: v2 binary, v2 JSON, v1, with its
dynamic batching on and off; TorchServe with the affectops handler as its own v2 envelope: v2 binary
and v2 JSON, TorchServe batching on and off) on loopback at concurrency 1, 8 and 32: p50 / p99
latency and throughput, each beside the raw in-process ``predict_request`` of the same model. Then
in-process micro-batching at concurrency 32 (one forward of 32 requests vs 32 forwards): the gain
batching can give at most.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import torch

from benchmarks.results import write_section
from core.settings import load_settings
from models import get_family
from models.hearing_loss.checkpoint import TrainedModel, load, save
from models.hearing_loss.data import AgeScaler
from models.hearing_loss.model import HearingLossConfig, build
from serving.torchserve.package import build_model_store
from serving.torchserve.server import running_torchserve

FAMILY, NAME, FRAMES = "hearing_loss", "hl", 150
CONCURRENCY = (1, 8, 32)
# one torch thread in the server and here: with two on a shared 2-core machine, one busy core stalls
# every OpenMP barrier and a forward pass varies 5x from run to run
THREADS = 1
SECTION = "Serving: KServe ModelServer and TorchServe vs raw forward"


@dataclass(frozen=True)
class Protocol:
    """How one request is sent: path under the base URL, body, headers."""

    path: str
    body: bytes
    headers: dict[str, str]


def protocols(tensors: dict[str, np.ndarray]) -> dict[str, Protocol]:
    inputs = [{"name": k, "shape": list(v.shape), "datatype": "FP32"} for k, v in tensors.items()]
    header = json.dumps(
        {"inputs": [{**i, "parameters": {"binary_data_size": tensors[i["name"]].nbytes}} for i in inputs]}
    ).encode()
    binary = header + b"".join(v.tobytes() for v in tensors.values())
    v2_json = json.dumps({"inputs": [{**i, "data": tensors[i["name"]].ravel().tolist()} for i in inputs]})
    v1 = json.dumps({"instances": [{k: v.tolist() for k, v in tensors.items()}]})
    octet = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}
    json_type = {"content-type": "application/json"}
    return {
        "v2 binary": Protocol(f"/v2/models/{NAME}/infer", binary, octet),
        "v2 JSON": Protocol(f"/v2/models/{NAME}/infer", v2_json.encode(), json_type),
        "v1": Protocol(f"/v1/models/{NAME}:predict", v1.encode(), json_type),
    }


@dataclass(frozen=True)
class Endpoint:
    """A started server: its base URL and the headers every request to it carries (authorization)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    name: str
    start: Callable[[Path], contextlib.AbstractContextManager[Endpoint]]  # model path -> open server
    protocols: tuple[str, ...]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def kserve_server(model_path: Path, max_batch_size: int) -> Iterator[Endpoint]:
    http_port, grpc_port = _free_port(), _free_port()
    command = [sys.executable, "-m", "serving", "--family", FAMILY, "--model-uri", str(model_path)]
    command += ["--model-name", NAME, "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    command += ["--max-batch-size", str(max_batch_size)]
    url = f"http://127.0.0.1:{http_port}"
    with tempfile.TemporaryFile() as log:
        env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/v2/models/{NAME}/ready", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"model server did not start:\n{log.read()[-3000:].decode()}")
                time.sleep(0.2)
            yield Endpoint(url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextlib.contextmanager
def torchserve_server(model_path: Path, batch_size: int) -> Iterator[Endpoint]:
    """The ``.mar`` that ``affectops serve package`` builds, in the real TorchServe on loopback."""
    with tempfile.TemporaryDirectory() as tmp, _environ(OMP_NUM_THREADS=str(THREADS)):
        # the frontend hands its environment on to the Python worker it spawns, so the worker's
        # torch gets the same thread count as the KServe server
        settings = load_settings({"AFFECTOPS_HOME": str(Path(tmp) / "home")})
        store = build_model_store(
            FAMILY,
            str(model_path),
            Path(tmp) / "store",
            settings=settings,
            model_name=NAME,
            batch_size=batch_size,
        )
        ports = {
            "inference_port": _free_port(),
            "management_port": _free_port(),
            "metrics_port": _free_port(),
        }
        with running_torchserve(store, **ports) as info:
            yield Endpoint(info.inference_url, {"Authorization": f"Bearer {info.inference_token}"})


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


KSERVE, KSERVE_UNBATCHED = "KServe ModelServer", "KServe, unbatched"
TORCHSERVE, TORCHSERVE_UNBATCHED = "TorchServe", "TorchServe, unbatched"


def targets() -> list[Target]:
    """Each runtime with its batching on (the defaults: 32 requests, 5 ms)."""
    return [
        Target(KSERVE, functools.partial(kserve_server, max_batch_size=32), ("v2 binary", "v2 JSON", "v1")),
        Target(TORCHSERVE, functools.partial(torchserve_server, batch_size=32), ("v2 binary", "v2 JSON")),
    ]


def pairs() -> list[tuple[Target, Target]]:
    """(batched, unbatched) of each runtime, run at the same time for the side-by-side rows."""
    return [
        (
            Target(KSERVE, functools.partial(kserve_server, max_batch_size=32), ("v2 binary",)),
            Target(KSERVE_UNBATCHED, functools.partial(kserve_server, max_batch_size=1), ("v2 binary",)),
        ),
        (
            Target(TORCHSERVE, functools.partial(torchserve_server, batch_size=32), ("v2 binary",)),
            Target(TORCHSERVE_UNBATCHED, functools.partial(torchserve_server, batch_size=1), ("v2 binary",)),
        ),
    ]


def side_by_side(
    model_path: Path, pair: tuple[Target, Target], protocol: Protocol, rounds: int, requests: int
) -> list[dict]:
    """Both servers of ``pair`` up at once, ``rounds`` alternating rounds of ``requests`` requests at
    concurrency 32 to each: on a shared machine both see the same load, so their ratio is fair."""
    concurrency = CONCURRENCY[-1]
    results: dict[str, tuple[list[np.ndarray], float]] = {t.name: ([], 0.0) for t in pair}
    with contextlib.ExitStack() as stack:
        endpoints = [(t.name, stack.enter_context(t.start(model_path))) for t in pair]
        for _ in range(rounds):
            for name, endpoint in endpoints:
                latencies, wall = asyncio.run(_load(endpoint, protocol, concurrency, requests))
                done, total = results[name]
                results[name] = ([*done, latencies], total + wall)
    rows = []
    for name, (latencies, wall) in results.items():
        merged = np.concatenate(latencies)
        rows.append(
            {
                "runtime": name,
                "protocol": "v2 binary, side by side",
                "concurrency": concurrency,
                "p50 ms": float(np.median(merged)) * 1e3,
                "p99 ms": float(np.percentile(merged, 99)) * 1e3,
                "req/s": len(merged) / wall,
            }
        )
    return rows


async def _load(
    endpoint: Endpoint, protocol: Protocol, concurrency: int, requests: int
) -> tuple[np.ndarray, float]:
    """``requests`` requests from ``concurrency`` clients in step; latencies (s) and wall time (s)."""
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=endpoint.url, headers=endpoint.headers, timeout=120, limits=limits
    ) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                latencies.append(await _post(client, protocol))

        await asyncio.gather(*(_post(client, protocol) for _ in range(concurrency)))  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return np.asarray(latencies), time.perf_counter() - start


async def _post(client: httpx.AsyncClient, protocol: Protocol) -> float:
    start = time.perf_counter()
    response = await client.post(protocol.path, content=protocol.body, headers=protocol.headers)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{protocol.path}: HTTP {response.status_code}: {response.text[:300]}")
    return elapsed


async def _paired(
    endpoint: Endpoint, protocol: Protocol, forward: Callable[[], object], requests: int
) -> tuple[np.ndarray, np.ndarray]:
    """Concurrency 1, one raw forward then one served request, in turn: both see the same machine load
    (this machine is shared), so their ratio is fair even when the absolute times drift."""
    raw, served = [], []
    async with httpx.AsyncClient(base_url=endpoint.url, headers=endpoint.headers, timeout=120) as client:
        for _ in range(5):  # warm-up
            forward()
            await _post(client, protocol)
        for _ in range(requests):
            start = time.perf_counter()
            forward()
            raw.append(time.perf_counter() - start)
            served.append(await _post(client, protocol))
    return np.asarray(raw), np.asarray(served)


def micro_batching(
    trained: TrainedModel, tensors: dict[str, np.ndarray], batch: int, rounds: int
) -> tuple[float, float]:
    """Seconds for ``batch`` requests as ``batch`` single forwards, and as one forward of them stacked."""
    model = trained.model
    lengths = torch.full((batch,), FRAMES)
    current = torch.from_numpy(np.stack([tensors["current"]] * batch))
    anchor = torch.from_numpy(np.stack([tensors["anchor"]] * batch))
    single = {k: torch.from_numpy(v)[None] for k, v in tensors.items()}
    one = torch.tensor([FRAMES])

    def timed(fn: Callable[[], object]) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        return (time.perf_counter() - start) / rounds

    with torch.inference_mode():
        batched = timed(lambda: model(current, lengths, anchor=anchor, anchor_lengths=lengths))
        singles = timed(
            lambda: [
                model(single["current"], one, anchor=single["anchor"], anchor_lengths=one)
                for _ in range(batch)
            ]
        )
    return singles, batched


def _row(runtime: str, protocol: str, concurrency: int, latencies: np.ndarray, rate: float, raw: np.ndarray):
    p50 = float(np.median(latencies))
    return {
        "runtime": runtime,
        "protocol": protocol,
        "concurrency": concurrency,
        "p50 ms": p50 * 1e3,
        "p99 ms": float(np.percentile(latencies, 99)) * 1e3,
        "req/s": rate,
        "p50 / raw p50": p50 / float(np.median(raw)),
        "req/s / raw req/s": rate * float(np.mean(raw)),
    }


def run(quick: bool, out_dir: Path) -> pd.DataFrame:
    """The table: every target's points, then the in-process micro-batching rows."""
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)
    config = HearingLossConfig()  # the paper's default: GRU 256, Marlin+VM+ABM
    trained = TrainedModel(build(config).eval(), AgeScaler(mean=50.0, std=15.0), 0.5, None)
    model_path = save(trained, out_dir / "model.pt")
    trained = load(model_path)
    tensors = get_family(FAMILY).serve.example(config, frames=FRAMES)
    predict = get_family(FAMILY).serve.predict
    requests = 40 if quick else 200
    bodies = protocols(tensors)
    rows = []
    for target in targets():
        with target.start(model_path) as endpoint:
            for name in target.protocols:
                raw, served = asyncio.run(
                    _paired(endpoint, bodies[name], lambda: predict(trained, tensors), requests)
                )
                rows.append(
                    _row("raw predict_request", f"(beside {name})", 1, raw, 1 / float(np.mean(raw)), raw)
                )
                rows.append(_row(target.name, name, 1, served, 1 / float(np.mean(served)), raw))
                for concurrency in CONCURRENCY[1:]:
                    n = max(requests, 4 * concurrency)
                    latencies, wall = asyncio.run(_load(endpoint, bodies[name], concurrency, n))
                    rows.append(_row(target.name, name, concurrency, latencies, n / wall, raw))
                print(*rows[-len(CONCURRENCY) - 1 :], sep="\n", flush=True)
    for pair in pairs():
        rows += side_by_side(model_path, pair, bodies["v2 binary"], 2 if quick else 4, 64)
        print(*rows[-2:], sep="\n", flush=True)
    singles, batched = micro_batching(trained, tensors, 32, 3 if quick else 10)
    for label, seconds in (("32 single forwards", singles), ("one forward of 32 stacked", batched)):
        per_request = np.full(1, seconds / 32)
        rows.append(_row("raw, in process", label, 32, per_request, 32 / seconds, np.full(1, singles / 32)))
    return pd.DataFrame(rows).round(2)


def goals(table: pd.DataFrame) -> str:
    """The issue's ratios, read from the table of one run."""

    def row(runtime: str, protocol: str, concurrency: int) -> pd.Series:
        found = table[
            (table.runtime == runtime) & (table.protocol == protocol) & (table.concurrency == concurrency)
        ]
        return found.iloc[0]

    stacked = float(row("raw, in process", "one forward of 32 stacked", 32)["req/s / raw req/s"])
    paired = "v2 binary, side by side"
    kserve_gain = row(KSERVE, paired, 32)["req/s"] / row(KSERVE_UNBATCHED, paired, 32)["req/s"]
    torch_gain = row(TORCHSERVE, paired, 32)["req/s"] / row(TORCHSERVE_UNBATCHED, paired, 32)["req/s"]
    return (
        f"Ratios of this run: KServe v2 binary at concurrency 32, batched / unbatched throughput "
        f"{kserve_gain:.2f}x against the in-process stacked-forward gain of {stacked:.2f}x "
        f"({kserve_gain / stacked:.2f} of it; goal >= 0.8); at concurrency 1, p50 "
        f"{row(KSERVE, 'v2 binary', 1)['p50 / raw p50']:.2f}x the raw forward beside it (goal <= 1.15). "
        "TorchServe v2 binary: at "
        f"concurrency 1, p50 {row(TORCHSERVE, 'v2 binary', 1)['p50 / raw p50']:.2f}x raw (goal <= 2.5); at "
        f"concurrency 32, batched / unbatched throughput {torch_gain:.2f}x (goal >= 2)."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 requests per point instead of 200")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = run(args.quick, Path(tmp))
    print(table.to_string(index=False))
    notes = (
        "`python -m benchmarks.serving` (`--quick`: 40 requests per point, else 200). One request: two "
        "[150, 384] float32 tensors; model: default config (GRU 256, Marlin+VM+ABM), random weights. "
        "KServe: `python -m serving` with its dynamic batching (`--max-batch-size 32 --max-batch-wait-ms "
        "5`, the defaults) and without (`--max-batch-size 1`); TorchServe: the `.mar` and "
        "`config.properties` that `affectops serve package` builds (the affectops handler as its own v2 "
        "envelope, one worker, token authorization on), with TorchServe batching (`batchSize` 32, "
        "`maxBatchDelay` 5 ms, the defaults) and without (`batchSize` 1). Client (httpx, bodies "
        "pre-encoded) and servers share the machine's cores. At concurrency 1 each served request "
        "alternates with one raw in-process `predict_request` (the row above it), so both see the same "
        "load on this shared machine; `p50 / raw p50` and `req/s / raw req/s` compare with that raw row. "
        "`v2 binary, side by side` rows: each runtime batched and unbatched up at the same time, 4 "
        "alternating rounds of 64 requests at concurrency 32 to each (2 with `--quick`), so that both see "
        "the same machine load; their throughput ratio is batching's gain. "
        "Last two rows: 32 requests as 32 forwards vs one forward of the 32 stacked (same T), in process; "
        "their ratio is the most batching can gain at concurrency 32. torch threads: "
        f"{THREADS} (servers and raw).\n\n{goals(table)}"
    )
    print(write_section(SECTION, table, notes))


if __name__ == "__main__":
    main()
