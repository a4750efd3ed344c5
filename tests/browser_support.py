"""Headless Chromium for the browser tests: find (or install) Debian's chromium, and render a page
served on loopback to its DOM text and a screenshot.

Installed by ``make browser-tools`` (a prerequisite of ``make test``): Debian's ``chromium`` package
via apt-get, which CI (fresh, root, apt) runs. A test calls ``chromium_or_skip()``: it installs the
same package when it is missing and the test runs as root with apt-get, and skips with the reason
only when Chromium is absent and cannot be installed here.

Rendering uses Chromium's own headless modes, no driver: ``--dump-dom`` prints the DOM after the
page's scripts ran, ``--screenshot`` writes a PNG; ``--virtual-time-budget`` lets the page's
fetches and renders finish first (virtual time waits while network requests are pending).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@dataclass(frozen=True)
class Page:
    """A rendered page: its DOM after scripts ran, its visible text, and the screenshot's path."""

    dom: str
    text: str
    screenshot: Path


def _run(chromium: str, profile: Path, args: list[str], timeout: float) -> str:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # root in CI containers; the page is our own, on loopback
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def dom_text(dom: str) -> str:
    """The text of an HTML document: tags, scripts and styles dropped, entities decoded, spaces
    collapsed."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def render(
    chromium: str,
    url: str,
    screenshot: Path,
    *,
    width: int = 1400,
    height: int = 2400,
    wait_ms: int = 15000,
    timeout: float = 120,
) -> Page:
    """Load ``url`` in headless Chromium at ``width`` x ``height``, let its scripts run for up to
    ``wait_ms`` of virtual time, and return its DOM and text; its screenshot goes to ``screenshot``."""
    screenshot = Path(screenshot)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    common = [f"--window-size={width},{height}", f"--virtual-time-budget={wait_ms}"]
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        dom = _run(chromium, Path(profile), [*common, "--dump-dom", url], timeout)
        _run(chromium, Path(profile), [*common, f"--screenshot={screenshot}", url], timeout)
    if not screenshot.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {screenshot}")
    return Page(dom=dom, text=dom_text(dom), screenshot=screenshot)
