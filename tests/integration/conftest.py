"""Shared fixtures for integration tests: an S3-compatible server (moto) on loopback."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

_bucket_numbers = itertools.count()


@dataclass(frozen=True)
class S3Server:
    """A bucket of its own on the shared loopback S3 server; AWS env vars point at dummy credentials."""

    endpoint_url: str
    bucket: str

    def client(self) -> Any:  # a botocore S3 client; its class is generated at run time
        return boto3.client("s3", endpoint_url=self.endpoint_url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _loopback_process(
    command: list[str],
    log: Path,
    ready: Callable[[], bool],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen]:
    """Run a server ``command`` until ``ready()`` holds, yield it, stop it; its output goes to ``log``
    (a file, not a pipe: an unread pipe would block the server)."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(command)} exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{' '.join(command)} not ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def loopback_process():
    """``loopback_process(command, log, ready, env=..., timeout=...)``: a context manager (see above)."""
    return _loopback_process


@pytest.fixture(scope="session")
def free_port():
    return _free_port


def _answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is serving
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def _moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A separate process rather than ThreadedMotoServer: its state cannot be reset by a test that
    # uses moto's in-process mock_aws, and the clients under test (DVC) run in child processes anyway.
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "server.log"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _loopback_process(command, log, lambda: _answers_http(f"{url}/moto-api/"), timeout=30):
        yield url


@pytest.fixture
def s3_server(_moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """A fresh bucket on a loopback S3 server, with dummy AWS credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Keep a developer's real AWS setup (profiles, tokens, endpoint overrides) out of the test.
    for var in (
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))

    server = S3Server(endpoint_url=_moto_endpoint, bucket=f"affectops-test-{next(_bucket_numbers)}")
    server.client().create_bucket(Bucket=server.bucket)
    return server
