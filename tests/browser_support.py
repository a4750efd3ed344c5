"""Headless Chromium for the browser tests: find (or install) Debian's chromium, and render a page
served on loopback to its DOM text and a screenshot.

Installed by ``make browser-tools`` (a prerequisite of ``make test``): Debian's ``chromium`` package
via apt-get, which CI (fresh, root, apt) runs. A test calls ``chromium_or_skip()``: it installs the
same package when it is missing and the test runs as root with apt-get, and skips with the reason
only when Chromium is absent and cannot be installed here.

``render`` drives headless Chromium over the Chrome DevTools Protocol (its own, no driver to
install): it loads the page, waits until a JavaScript condition holds (the page's data fetched and
drawn, not a fixed sleep), then takes the DOM, the visible text and a screenshot of that same load.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websocket

NAMES = ("chromium", "chromium-browser")
APT_PACKAGE = "chromium"  # Debian's; `make browser-tools` installs the same
INSTALL_TIMEOUT_S = 600


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return next((path for name in NAMES if (path := shutil.which(name))), None)


def install_chromium() -> str | None:
    """``apt-get install chromium`` when running as root with apt-get; the executable, or None with
    nothing tried (not root, no apt-get) or on a failed install."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", APT_PACKAGE]):
        done = subprocess.run(command, env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0 and command[1] == "install":
            return None
    return find_chromium()


def chromium_or_skip() -> str:
    """The Chromium executable, installing it if it is missing and installable; else skip the test."""
    path = find_chromium() or install_chromium()
    if path is None:
        pytest.skip(
            "Chromium is not installed and cannot be installed here (needs root and apt-get): "
            "run `make browser-tools` (apt-get install chromium)"
        )
    return path


ARTIFACTS_ENV = "AFFECTOPS_TEST_ARTIFACTS"


def artifact_path(tmp_path: Path, name: str) -> Path:
    """Where a test keeps an artifact (a screenshot): under ``$AFFECTOPS_TEST_ARTIFACTS`` when set (a
    directory CI keeps; pytest prunes its old tmp dirs), else under the test's ``tmp_path``."""
    root = os.environ.get(ARTIFACTS_ENV)
    return (Path(root) if root else Path(tmp_path)) / name


@dataclass(frozen=True)
class Page:
    """A rendered page: its DOM, its visible text (``innerText``) and the screenshot's path."""

    dom: str
    text: str
    screenshot: Path


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket: ``call`` sends a command
    and returns its result, skipping the events that arrive meanwhile."""

    def __init__(self, websocket_url: str, timeout: float) -> None:
        # no Origin header: Chromium refuses DevTools websockets from origins it was not told to allow
        self._socket = websocket.create_connection(websocket_url, timeout=timeout, suppress_origin=True)
        self._next = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        self._socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self._socket.close()


def _devtools_port(profile: Path, process: subprocess.Popen, log: Path, deadline: float) -> int:
    """The port Chromium chose for DevTools (``--remote-debugging-port=0``), from its profile."""
    active = profile / "DevToolsActivePort"
    while not active.is_file() or not active.read_text().strip():
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"chromium opened no DevTools port:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return int(active.read_text().split()[0])


def render(
    chromium: str,
    url: str,
    screenshot: Path,
    *,
    ready: str = "document.readyState === 'complete'",
    width: int = 1400,
    height: int = 2400,
    settle_s: float = 1.0,
    timeout: float = 120,
) -> Page:
    """Load ``url`` in headless Chromium with a ``width`` x ``height`` viewport, wait until the
    JavaScript expression ``ready`` holds (then ``settle_s`` more, for animations), and return its DOM
    and visible text (whitespace collapsed); the whole page's screenshot goes to ``screenshot`` (a PNG).
    The browser's time zone is UTC.

    Raises RuntimeError when Chromium fails or ``ready`` does not hold within ``timeout`` seconds
    (with the page's text at that moment)."""
    screenshot = Path(screenshot)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as tmp:
        profile, log = Path(tmp) / "profile", Path(tmp) / "chromium.log"
        command = [
            chromium,
            "--headless",
            "--no-sandbox",  # root in CI containers; the page is our own, on loopback
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        with log.open("wb") as sink:
            # UTC: pages that print times in the browser's zone print them as the tests compute them
            env = {**os.environ, "TZ": "UTC"}
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            port = _devtools_port(profile, process, log, deadline)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                page = next(t for t in json.loads(response.read()) if t["type"] == "page")
            tools = DevTools(page["webSocketDebuggerUrl"], timeout=max(deadline - time.monotonic(), 1))
            try:
                tools.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                tools.call("Page.navigate", url=url)
                # a page still loading may have no body yet: an expression that throws has not held
                held = f"(() => {{ try {{ return Boolean({ready}); }} catch (e) {{ return false; }} }})()"
                while not tools.evaluate(held):
                    if time.monotonic() > deadline:
                        text = tools.evaluate("document.body ? document.body.innerText : ''")
                        raise RuntimeError(
                            f"{url}: {ready!r} did not hold in {timeout:.0f} s; page: {text[:2000]}"
                        )
                    time.sleep(0.25)
                time.sleep(settle_s)
                # the whole page, not only the viewport
                size = tools.call("Page.getLayoutMetrics")["cssContentSize"]
                clip = {"x": 0, "y": 0, "width": width, "height": max(size["height"], 1), "scale": 1}
                shot = tools.call(
                    "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
                )
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                dom = tools.evaluate("document.documentElement.outerHTML")
                text = tools.evaluate("document.body.innerText")
            finally:
                tools.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return Page(dom=dom, text=" ".join(text.split()), screenshot=screenshot)
