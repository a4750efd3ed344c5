"""Every overlay renders, passes the Kubernetes schemas of the pinned version and checkov."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from k8s_support import K8S, OVERLAYS, ident, pinned_version, run_tool

pytestmark = pytest.mark.integration

CRD_GROUPS = {"serving.kserve.io", "trainer.kubeflow.org"}

KFP_REMOTE = re.compile(
    r"^https://github\.com/kubeflow/pipelines//manifests/kustomize/"
    r"(?P<path>cluster-scoped-resources|env/platform-agnostic)\?ref=(?P<ref>\d+\.\d+\.\d+)$"
)


def test_every_overlay_renders(rendered: dict[str, list[dict]]) -> None:
    assert set(rendered) == {"self-hosted", "cloud-gpu"}
    for overlay, docs in rendered.items():
        assert docs, f"{overlay} rendered no objects"


def _schema_validate(tools: Path, files: list[Path], version: str) -> tuple[int, str]:
    result = run_tool([tools / "kubernetes-validate", "--strict", "-k", version, *files])
    return result.returncode, result.stdout + result.stderr


def test_objects_pass_kubernetes_schemas(
    tools: Path, rendered_files: dict[str, Path], rendered: dict[str, list[dict]], validation_config: dict
) -> None:
    version = validation_config["kubernetes_version"]
    rc, output = _schema_validate(tools, list(rendered_files.values()), version)
    assert rc == 0, output
    # Every core object was checked against a schema: an unknown kind is only a warning to the tool.
    # Custom resources have no Kubernetes schema; tests/k8s/test_k8s_sdk_types.py reads them through
    # their SDK types.
    passed = len(re.findall(r"^INFO .* passed for resource", output, flags=re.M))
    core = [
        d for docs in rendered.values() for d in docs if d["apiVersion"].rpartition("/")[0] not in CRD_GROUPS
    ]
    assert passed == len(core), output


def test_schema_validation_rejects_a_broken_object(
    tools: Path, rendered: dict[str, list[dict]], validation_config: dict, tmp_path: Path
) -> None:
    # Guards the guard: strict mode must catch a misspelt field in a real object.
    deployment = next(d for d in rendered["self-hosted"] if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["securityContex"] = container.pop("securityContext")
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    rc, output = _schema_validate(tools, [path], validation_config["kubernetes_version"])
    assert rc != 0, output


def test_checkov_passes_with_only_the_listed_skips(
    tools: Path, rendered_files: dict[str, Path], validation_config: dict, tmp_path: Path
) -> None:
    skips = validation_config["checkov_skips"] or []
    for skip in skips:
        assert re.fullmatch(r"CKV2?_K8S_\d+", skip["id"]), skip
        assert len(skip.get("reason", "").split()) >= 5, f"{skip['id']} needs a reason"
    args = [tools / "checkov", "--framework", "kubernetes", "--quiet", "--compact", "-o", "json"]
    args += [a for f in rendered_files.values() for a in ("-f", f)]
    if skips:
        args += ["--skip-check", ",".join(s["id"] for s in skips)]
    result = run_tool(args, cwd=tmp_path, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    reports = json.loads(result.stdout) if result.stdout.strip().startswith(("[", "{")) else None
    assert reports is not None, f"checkov gave no report (rc {result.returncode}):\n{result.stderr[-3000:]}"
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({Path(c['file_path']).name})"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert sum(r.get("summary", {}).get("passed", 0) for r in reports) > 100


def _kfp_remotes() -> list[tuple[Path, str]]:
    out = []
    for path in sorted((K8S / "kubeflow-pipelines").rglob("kustomization.yaml")):
        for resource in yaml.safe_load(path.read_text()).get("resources", []):
            out.append((path, resource))
    return out


def test_kfp_install_is_a_pinned_remote_of_the_sdk_release() -> None:
    remotes = _kfp_remotes()
    assert {KFP_REMOTE.match(r)["path"] for _, r in remotes if KFP_REMOTE.match(r)} == {
        "cluster-scoped-resources",
        "env/platform-agnostic",
    }, remotes
    for path, resource in remotes:
        match = KFP_REMOTE.match(resource)
        assert match, f"{path}: {resource} is not a pinned KFP release base"
        assert match["ref"] == pinned_version("kfp"), (
            f"{path}: KFP {match['ref']} but kfp=={pinned_version('kfp')}"
        )


def test_overlays_need_no_network() -> None:
    for overlay in OVERLAYS:
        for path in (K8S / "overlays" / overlay).rglob("kustomization.yaml"):
            for resource in yaml.safe_load(path.read_text()).get("resources", []):
                assert "://" not in resource, f"{path}: remote resource {resource}"
    for path in (K8S / "base").rglob("kustomization.yaml"):
        for resource in yaml.safe_load(path.read_text()).get("resources", []):
            assert "://" not in resource, f"{path}: remote resource {resource}"


@pytest.mark.skipif(
    os.environ.get("AFFECTOPS_K8S_ONLINE") != "1",
    reason="renders KFP from GitHub: set AFFECTOPS_K8S_ONLINE=1 where there is network",
)
def test_kfp_install_renders_online(tools: Path) -> None:
    docs = []
    for path in (K8S / "kubeflow-pipelines", K8S / "kubeflow-pipelines" / "cluster-scoped"):
        result = run_tool([tools / "kubectl", "kustomize", path], timeout=300)
        assert result.returncode == 0, result.stderr
        docs += [d for d in yaml.safe_load_all(result.stdout) if d]
    by_id = {ident(d): d for d in docs}
    labels = by_id["Namespace/-/kubeflow"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    # The RoleBinding in k8s/base/rbac.yaml grants to this ServiceAccount.
    assert "ServiceAccount/kubeflow/pipeline-runner" in by_id
