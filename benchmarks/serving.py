"""Serving overhead: the hearing-loss detector behind KServe's ModelServer and TorchServe vs its raw
forward pass.

``python -m benchmarks.serving [--quick]``: one request = two [150, 384] float32 tensors (a 30 s
segment and its anchor); model = the default config (GRU 256) with random weights (speed does not
depend on training). For each ``Target`` in ``targets()`` (KServe: v2 binary, v2 JSON, v1; TorchServe
with the kservev2 envelope: v2 JSON, the only body that envelope takes) on loopback at concurrency 1,
8 and 32: p50 / p99 latency and throughput, each beside the raw in-process ``predict_request`` of the
same model. Then where TorchServe's v2 JSON time goes (its Python-side conversions timed in process),
and in-process micro-batching at concurrency 32 (one forward of 32 requests vs 32 forwards).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from types import SimpleNamespace

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
def kserve_server(model_path: Path) -> Iterator[Endpoint]:
    http_port, grpc_port = _free_port(), _free_port()
    command = [sys.executable, "-m", "serving", "--family", FAMILY, "--model-uri", str(model_path)]
    command += ["--model-name", NAME, "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
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
def torchserve_server(model_path: Path) -> Iterator[Endpoint]:
    """The ``.mar`` that ``affectops serve package`` builds, in the real TorchServe on loopback."""
    with tempfile.TemporaryDirectory() as tmp, _environ(OMP_NUM_THREADS=str(THREADS)):
        # the frontend hands its environment on to the Python worker it spawns, so the worker's
        # torch gets the same thread count as the KServe server
        settings = load_settings({"AFFECTOPS_HOME": str(Path(tmp) / "home")})
        store = build_model_store(
            FAMILY, str(model_path), Path(tmp) / "store", settings=settings, model_name=NAME
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


def targets() -> list[Target]:
    return [
        Target("KServe ModelServer", kserve_server, ("v2 binary", "v2 JSON", "v1")),
        Target("TorchServe (kservev2)", torchserve_server, ("v2 JSON",)),
    ]


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


def torchserve_conversions(body: bytes, rounds: int) -> dict[str, float]:
    """Median seconds of each Python-side step a v2 JSON request takes in TorchServe's worker before the
    forward pass, timed in process with the real envelope and handler code; plus ``orjson.loads``, the
    decoder KServe's dataplane uses on the same body (for comparison, not a TorchServe step)."""
    import orjson
    from ts.torch_handler.request_envelope.kservev2 import KServev2Envelope

    from serving.torchserve.handler import FamilyHandler

    envelope, handler = KServev2Envelope(None), FamilyHandler()

    def envelope_from(parsed: dict) -> object:
        envelope.context = SimpleNamespace()  # the envelope stores input names and the request id here
        return envelope.parse_input([{"body": parsed}])  # a dict body skips its json.loads

    inputs = envelope_from(json.loads(body))
    # (set-up outside the timer, timed step); the envelope rewrites its input, so each round parses afresh
    steps: dict[str, tuple[Callable[[], object], Callable[[object], object]]] = {
        "json.loads": (lambda: body, json.loads),
        # kservev2 turns each input's flat list into an array and back into nested lists
        "envelope": (lambda: json.loads(body), envelope_from),
        "handler": (lambda: inputs, handler.preprocess),  # nested lists -> float32 arrays
        "orjson.loads": (lambda: body, orjson.loads),
    }
    medians = {}
    for name, (setup, step) in steps.items():
        times = []
        for _ in range(rounds):
            argument = setup()
            start = time.perf_counter()
            step(argument)
            times.append(time.perf_counter() - start)
        medians[name] = float(np.median(times))
    return medians


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


def run(quick: bool, out_dir: Path) -> tuple[pd.DataFrame, str]:
    """The table, and a note on where TorchServe's v2 JSON time goes."""
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
    singles, batched = micro_batching(trained, tensors, 32, 3 if quick else 10)
    for label, seconds in (("32 single forwards", singles), ("one forward of 32 stacked", batched)):
        per_request = np.full(1, seconds / 32)
        rows.append(_row("raw, in process", label, 32, per_request, 32 / seconds, np.full(1, singles / 32)))
    table = pd.DataFrame(rows)
    body = bodies["v2 JSON"].body
    return table.round(2), torchserve_cost(
        table, torchserve_conversions(body, 10 if quick else 30), len(body)
    )


def torchserve_cost(table: pd.DataFrame, conversions: dict[str, float], body_bytes: int) -> str:
    """Where TorchServe's concurrency-1 v2 JSON p50 goes, beside KServe's on the same body."""

    def at_one(runtime: str) -> pd.Series:
        rows = table[(table.runtime == runtime) & (table.protocol == "v2 JSON") & (table.concurrency == 1)]
        return rows.iloc[0]

    served, kserve = at_one("TorchServe (kservev2)"), float(at_one("KServe ModelServer")["p50 ms"])
    raw = served["p50 ms"] / served["p50 / raw p50"]  # the raw row measured beside TorchServe's
    served = float(served["p50 ms"])
    steps = {name: seconds * 1e3 for name, seconds in conversions.items()}
    rest = served - raw - sum(steps[name] for name in ("json.loads", "envelope", "handler"))
    size = body_bytes / 1e6
    return (
        f"Where TorchServe's time goes, v2 JSON at concurrency 1: p50 {served:.1f} ms "
        f"(KServe: {kserve:.1f} ms on the same body). Of it, {raw:.1f} ms is the forward pass (the raw row "
        "beside it). Its worker then spends, timed in process with TorchServe's own envelope and the "
        f"affectops handler on the same {size:.1f} MB body: stdlib `json.loads` {steps['json.loads']:.1f} ms "
        f"(KServe's dataplane decodes with `orjson`: {steps['orjson.loads']:.1f} ms), the kservev2 "
        f"envelope's flat list -> float64 array -> nested lists {steps['envelope']:.1f} ms, the handler's "
        f"nested lists -> float32 arrays {steps['handler']:.1f} ms. The remaining {rest:.1f} ms is the Java "
        "frontend hop (HTTP in Netty, the body relayed to the Python worker over its socket, the response "
        "back) and the client's send. "
        "Above concurrency 1 the one worker (batch size 1: the envelope decodes only a batch's first "
        "request) serves one request at a time, so throughput stays near 1 / its per-request time. The "
        "envelope takes JSON only: v2 binary, KServe's cheap path, is not open on TorchServe."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 requests per point instead of 200")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table, cost = run(args.quick, Path(tmp))
    print(table.to_string(index=False))
    notes = (
        "`python -m benchmarks.serving` (`--quick`: 40 requests per point, else 200). One request: two "
        "[150, 384] float32 tensors; model: default config (GRU 256, Marlin+VM+ABM), random weights. KServe: "
        "`python -m serving`; TorchServe: the `.mar` and `config.properties` that `affectops serve package` "
        "builds (kservev2 envelope, one worker, batch size 1, token authorization on), v2 JSON only. Client "
        "(httpx, bodies pre-encoded) and server share the machine's cores. At concurrency 1 each served "
        "request alternates with one raw in-process `predict_request` (the row above it), so both see "
        "the same load on this shared machine; `p50 / raw p50` and `req/s / raw req/s` compare with "
        "that raw row. Last two rows: "
        "32 requests as 32 forwards vs one forward of the 32 stacked (same T), in process; their ratio is "
        f"the gain micro-batching could give at concurrency 32. torch threads: {THREADS} (servers and raw)."
        f"\n\n{cost}"
    )
    print(write_section(SECTION, table, notes))


if __name__ == "__main__":
    main()
