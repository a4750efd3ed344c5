"""Helpers for the offline validation of k8s/ and docker/: paths, pins, pod-spec access."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def pinned_version(package: str) -> str:
    """The exact version of ``package`` in constraints.txt."""
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower().replace("_", "-") == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def package_version() -> str:
    import tomllib

    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]["version"]


def pod_spec(obj: dict) -> dict | None:
    """The pod spec of a workload object, or None for other kinds."""
    kind = obj["kind"]
    if kind not in WORKLOAD_KINDS:
        return None
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def containers(spec: dict) -> list[dict]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def lockdown_problems(where: str, spec: dict, *, require_resources: bool = True) -> list[str]:
    """What a pod spec lacks of the platform's posture: non-root, read-only root, no capabilities,
    no token, RuntimeDefault seccomp, requests and limits, a bounded /tmp."""
    problems = []
    pod_sc = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"{where}: {flag}")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: mounts a ServiceAccount token")
    if any("hostPath" in v for v in spec.get("volumes", [])):
        problems.append(f"{where}: hostPath volume")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in containers(spec):
        at = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{at}: runAsNonRoot not set")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) in (None, 0):
            problems.append(f"{at}: no non-zero runAsUser")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation not false")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: root filesystem writable")
        caps = sc.get("capabilities", {})
        if caps.get("drop") != ["ALL"] or caps.get("add"):
            problems.append(f"{at}: capabilities not dropped: {caps}")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{at}: seccomp {seccomp}")
        if require_resources:
            resources = c.get("resources", {})
            for bound in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in resources.get(bound, {}):
                        problems.append(f"{at}: no {res} {bound}")
        # A read-only root still needs a scratch /tmp, backed by a bounded emptyDir.
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        if "sizeLimit" not in volumes.get(mounts.get("/tmp", ""), {}).get("emptyDir", {}):
            problems.append(f"{at}: /tmp is not a size-limited emptyDir")
    return problems


def ident(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']}/{meta.get('namespace', '-')}/{meta['name']}"


def run_tool(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, **kwargs)
