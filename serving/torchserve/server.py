"""Run TorchServe on loopback over a store built by ``package.build_model_store`` (tests, benchmarks).

The store's ``config.properties`` is kept as KServe would use it, with only the three addresses
and the model store path rewritten for this machine. TorchServe writes its logs, config snapshots,
pid file and ``key_file.json`` into its working and temp directories, so both are a private
temporary directory, never the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from serving.torchserve.package import CONFIG_DIR, MODEL_STORE

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServerInfo:
    inference_url: str
    management_url: str
    metrics_url: str
    model_name: str
    inference_token: str
    management_token: str
    workdir: Path  # TorchServe's working directory: logs/, key_file.json


@contextmanager
def running_torchserve(
    model_store_dir: Path,
    *,
    inference_port: int,
    management_port: int,
    metrics_port: int,
    timeout: float = 120.0,
) -> Iterator[ServerInfo]:
    """Start TorchServe with the store's config on loopback ports, wait until its model has a ready
    worker, yield the URLs and tokens, then stop it."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise RuntimeError("TorchServe needs Java 11+: no java on PATH and JAVA_HOME unset")
    store = Path(model_store_dir).absolute()
    properties = _read_properties(store / CONFIG_DIR / "config.properties")
    (model_name,) = json.loads(properties["model_snapshot"])["models"]
    urls = {
        "inference_address": f"http://{LOOPBACK}:{inference_port}",
        "management_address": f"http://{LOOPBACK}:{management_port}",
        "metrics_address": f"http://{LOOPBACK}:{metrics_port}",
    }
    # TorchServe's gRPC APIs listen on fixed ports (7070, 7071) unless told otherwise: free ones, so
    # that two servers can run side by side (benchmarks compare configurations at the same time)
    grpc = {"grpc_inference_port": str(_free_port()), "grpc_management_port": str(_free_port())}
    properties |= {**urls, **grpc, "model_store": str(store / MODEL_STORE)}

    with tempfile.TemporaryDirectory(prefix="torchserve-") as tmp:
        workdir = Path(tmp)
        config = workdir / "config.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        env = {
            **os.environ,
            "TMPDIR": str(workdir),  # the launcher's pid file goes to tempfile.gettempdir()
            "TEMP": str(workdir),  # the JVM's java.io.tmpdir
            "LOG_LOCATION": str(workdir / "logs"),
            "METRICS_LOCATION": str(workdir / "logs"),
        }
        launcher = [sys.executable, "-m", "ts.model_server"]
        log = workdir / "torchserve.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [*launcher, "--start", "--foreground", "--ts-config", str(config)],
                cwd=workdir,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            keys = _wait_ready(proc, workdir, urls["management_address"], model_name, log, timeout)
            yield ServerInfo(
                inference_url=urls["inference_address"],
                management_url=urls["management_address"],
                metrics_url=urls["metrics_address"],
                model_name=model_name,
                inference_token=keys["inference"]["key"],
                management_token=keys["management"]["key"],
                workdir=workdir,
            )
        finally:
            # the foreground launcher does not pass signals on to the JVM; --stop ends the JVM via
            # the pid file, and the launcher returns once it has gone
            subprocess.run([*launcher, "--stop"], cwd=workdir, env=env, capture_output=True, timeout=90)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _wait_ready(
    proc: subprocess.Popen, workdir: Path, management: str, model: str, log: Path, timeout: float
) -> dict:
    """Poll until TorchServe wrote its key file and the model has a READY worker; return the keys."""
    deadline = time.monotonic() + timeout
    key_file = workdir / "key_file.json"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"torchserve exited with {proc.returncode}:\n{_tail(workdir, log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"torchserve: model {model} not ready within {timeout:.0f} s:\n{_tail(workdir, log)}"
            )
        if key_file.is_file():
            try:
                keys = json.loads(key_file.read_text())
                if _model_ready(management, model, keys["management"]["key"]):
                    return keys
            except (ValueError, KeyError):  # the key file is being written
                pass
        time.sleep(0.2)


def _model_ready(management: str, model: str, token: str) -> bool:
    request = urllib.request.Request(
        f"{management}/models/{model}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            described = json.loads(response.read())
    except (OSError, ValueError):  # not listening yet, model not registered yet (404)
        return False
    return any(worker.get("status") == "READY" for entry in described for worker in entry.get("workers", []))


def _tail(workdir: Path, log: Path) -> str:
    """The launcher's output and the model's worker log: where a failed start explains itself."""
    parts = [log.read_text(errors="replace")[-3000:]]
    worker_log = workdir / "logs" / "model_log.log"
    if worker_log.is_file():
        parts.append(worker_log.read_text(errors="replace")[-3000:])
    return "\n".join(parts)


def _read_properties(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(f"model_store_dir: no {CONFIG_DIR}/config.properties at {path.parent.parent}")
    properties: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            properties[key.strip()] = value.strip()
    return properties
