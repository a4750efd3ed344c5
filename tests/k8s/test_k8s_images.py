"""The platform image's Dockerfile: linted, pinned, non-root, and tied to the package version."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from k8s_support import REPO, package_version, run_tool

pytestmark = pytest.mark.integration

DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))
PLATFORM = REPO / "docker" / "platform.Dockerfile"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(tools: Path, dockerfile: Path) -> None:
    result = run_tool([tools / "hadolint", "--no-color", dockerfile])
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_pinned_by_digest() -> None:
    steps = _instructions(PLATFORM)
    args = dict(a.split("=", 1) for op, a in steps if op == "ARG" and "=" in a)
    for op, arg in steps:
        if op == "FROM":
            image = arg.split()[0]
            image = args.get(image.strip("${}"), image)
            assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", image), image


def test_runs_as_a_non_root_user() -> None:
    steps = _instructions(PLATFORM)
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    users = [a for op, a in steps[last_from:] if op == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"USER {users[-1]}: use a numeric uid >= 10000"


def test_installs_the_tested_stack() -> None:
    text = PLATFORM.read_text()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (torch_pin,) = [d for d in pyproject["project"]["dependencies"] if re.match(r"torch\s*==", d)]
    assert re.search(rf"--index-url https://download\.pytorch\.org/whl/cpu {re.escape(torch_pin)}\b", text)
    assert re.search(r"pip install .*-c constraints\.txt \.", text)
    # Every package the project ships is copied into the image and let through .dockerignore.
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    ignore = (REPO / "docker" / "platform.Dockerfile.dockerignore").read_text().splitlines()
    for package in packages:
        assert f"COPY {package}/ {package}/" in text, f"{package} is not copied into the image"
        assert f"!{package}/" in ignore, f"{package} is excluded by the .dockerignore"


def test_make_image_tag_prints_the_package_version() -> None:
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "image-tag"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == package_version()
