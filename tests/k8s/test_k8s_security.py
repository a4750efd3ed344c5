"""The security posture of every rendered overlay, object by object."""

from __future__ import annotations

import re

import pytest
import yaml
from k8s_support import K8S, containers, ident, lockdown_problems, pod_spec

pytestmark = pytest.mark.integration

# Namespaces the overlays put objects in without declaring them: KFP's, labelled by
# k8s/kubeflow-pipelines/cluster-scoped (baseline enforced, restricted audited and warned).
EXTERNAL_NAMESPACES = {"kubeflow"}
RESTRICTED_LABELS = ("enforce", "audit", "warn")


def _workloads(docs: list[dict]) -> list[tuple[dict, dict]]:
    return [(d, spec) for d in docs if (spec := pod_spec(d)) is not None]


def test_every_container_is_locked_down(rendered: dict[str, list[dict]]) -> None:
    problems = []
    for overlay, docs in rendered.items():
        for obj, spec in _workloads(docs):
            problems += lockdown_problems(f"{overlay} {ident(obj)}", spec)
    assert not problems, "\n".join(problems)


def test_the_lockdown_check_catches_a_weakened_container(rendered: dict[str, list[dict]]) -> None:
    # Guards the guard: every weakened field of a real pod is reported.
    obj, spec = next((d, s) for d, s in _workloads(rendered["self-hosted"]) if d["kind"] == "Deployment")
    spec = yaml.safe_load(yaml.safe_dump(spec))
    spec["automountServiceAccountToken"] = True
    container = spec["containers"][0]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    container["securityContext"]["capabilities"] = {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    del container["resources"]["limits"]["memory"]
    problems = "\n".join(lockdown_problems(ident(obj), spec))
    for expected in ("ServiceAccount token", "root filesystem writable", "NET_ADMIN", "no memory limits"):
        assert expected in problems, problems


def test_images_are_pinned(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        for obj, spec in _workloads(docs):
            for c in containers(spec):
                image = c["image"]
                assert "@sha256:" in image or re.search(r":[\w.-]+$", image.rsplit("/", 1)[-1]), image
                assert not image.endswith(":latest"), f"{overlay} {ident(obj)}: {image}"


def test_no_secret_values_anywhere_in_k8s() -> None:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                raise AssertionError(f"{path} declares a Secret: create it with kubectl instead")
        text = path.read_text()
        assert "secretGenerator" not in text, f"{path}: secretGenerator puts secret values in the repo"


def test_rendered_overlays_hold_no_secrets(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        assert not [ident(d) for d in docs if d["kind"] == "Secret"], overlay
        for d in docs:
            if d["kind"] == "ConfigMap":
                for key, value in d.get("data", {}).items():
                    assert not re.search(
                        r"(?i)password|secret|token|://[^/@\s]+:[^/@\s]+@", f"{key}={value}"
                    ), f"{overlay} {ident(d)}: {key} looks like a credential"


def test_namespaces_enforce_restricted(rendered: dict[str, list[dict]], validation_config: dict) -> None:
    minor = "v" + ".".join(str(validation_config["kubernetes_version"]).split(".")[:2])
    for overlay, docs in rendered.items():
        declared = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
        assert {"affectops", "affectops-serving", "affectops-monitoring"} <= set(declared), overlay
        for name, ns in declared.items():
            labels = ns["metadata"].get("labels", {})
            for mode in RESTRICTED_LABELS:
                assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", (overlay, name, mode)
                assert labels.get(f"pod-security.kubernetes.io/{mode}-version") == minor, (
                    overlay,
                    name,
                    mode,
                )
        used = {d["metadata"]["namespace"] for d in docs if "namespace" in d["metadata"]}
        assert used <= set(declared) | EXTERNAL_NAMESPACES, f"{overlay}: undeclared {used - set(declared)}"


def test_every_namespace_starts_default_deny(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        for ns in (d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"):
            deny = [
                p
                for p in policies
                if p["metadata"]["namespace"] == ns
                and p["spec"]["podSelector"] == {}
                and sorted(p["spec"]["policyTypes"]) == ["Egress", "Ingress"]
                and not p["spec"].get("ingress")
                and not p["spec"].get("egress")
            ]
            assert deny, f"{overlay}: no default-deny NetworkPolicy in {ns}"
            dns = [
                p
                for p in policies
                if p["metadata"]["namespace"] == ns
                and p["spec"]["podSelector"] == {}
                and any(
                    {"protocol": "UDP", "port": 53} in rule.get("ports", [])
                    for rule in p["spec"].get("egress", [])
                )
            ]
            assert dns, f"{overlay}: pods in {ns} cannot resolve names"


def _allows(policies: list[dict], ns: str, pod_labels: dict, direction: str, port: int) -> list[dict]:
    """Rules of policies in ``ns`` selecting pods with ``pod_labels`` that open ``port``."""
    rules = []
    for p in policies:
        if p["metadata"]["namespace"] != ns:
            continue
        selector = p["spec"]["podSelector"].get("matchLabels", {})
        if not selector.items() <= pod_labels.items():
            continue
        for rule in p["spec"].get(direction, []):
            if any(port_spec.get("port") == port for port_spec in rule.get("ports", [])):
                rules.append(rule)
    return rules


PIPELINE_POD = {"pipelines.kubeflow.org/v2_component": "true"}
PREDICTOR_POD = {"serving.kserve.io/inferenceservice": "x"}
SINK_POD = {"app.kubernetes.io/name": "inference-log-sink", "affectops.io/s3-access": "true"}
REPORT_POD = {"app.kubernetes.io/name": "monitoring-report", "affectops.io/s3-access": "true"}
MLFLOW_POD = {"app.kubernetes.io/name": "mlflow"}


@pytest.mark.parametrize(
    ("src_ns", "src_labels", "dst_ns", "dst_labels", "port"),
    [
        ("kubeflow", PIPELINE_POD, "affectops", MLFLOW_POD, 5000),
        ("kubeflow", PIPELINE_POD, "affectops-serving", PREDICTOR_POD, 8080),
        ("affectops-serving", PREDICTOR_POD, "affectops-monitoring", SINK_POD, 8090),
        ("affectops-monitoring", REPORT_POD, "affectops", MLFLOW_POD, 5000),
    ],
)
def test_platform_flows_are_open_both_ways(
    rendered: dict[str, list[dict]], src_ns: str, src_labels: dict, dst_ns: str, dst_labels: dict, port: int
) -> None:
    for overlay, docs in rendered.items():
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        assert _allows(policies, src_ns, src_labels, "egress", port), f"{overlay}: {src_ns} egress :{port}"
        assert _allows(policies, dst_ns, dst_labels, "ingress", port), f"{overlay}: {dst_ns} ingress :{port}"


def test_storage_flows(rendered: dict[str, list[dict]]) -> None:
    mlflow = {"app.kubernetes.io/name": "mlflow"}
    self_hosted = [d for d in rendered["self-hosted"] if d["kind"] == "NetworkPolicy"]
    assert _allows(self_hosted, "affectops", mlflow, "egress", 5432)
    assert _allows(self_hosted, "affectops", {"app.kubernetes.io/name": "postgres"}, "ingress", 5432)
    assert _allows(self_hosted, "affectops", mlflow, "egress", 9000)
    assert _allows(self_hosted, "affectops", {"app.kubernetes.io/name": "minio"}, "ingress", 9000)
    assert _allows(self_hosted, "kubeflow", PIPELINE_POD, "egress", 9000)
    for pod in (SINK_POD, REPORT_POD):
        assert _allows(self_hosted, "affectops-monitoring", pod, "egress", 9000)
    monitoring_peers = [
        peer
        for rule in _allows(self_hosted, "affectops", {"app.kubernetes.io/name": "minio"}, "ingress", 9000)
        for peer in rule["from"]
        if peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        == "affectops-monitoring"
    ]
    assert [p["podSelector"]["matchLabels"] for p in monitoring_peers] == [{"affectops.io/s3-access": "true"}]
    cloud = [d for d in rendered["cloud-gpu"] if d["kind"] == "NetworkPolicy"]
    assert _allows(cloud, "affectops", mlflow, "egress", 5432)
    assert _allows(cloud, "affectops", mlflow, "egress", 443)
    assert _allows(cloud, "kubeflow", PIPELINE_POD, "egress", 443)
    for pod in (SINK_POD, REPORT_POD):
        assert _allows(cloud, "affectops-monitoring", pod, "egress", 443)


def test_nothing_is_exposed_outside_the_cluster(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        assert not [ident(d) for d in docs if d["kind"] in {"Ingress", "Gateway", "HTTPRoute"}], overlay
        for svc in (d for d in docs if d["kind"] == "Service"):
            assert svc["spec"].get("type", "ClusterIP") in {"ClusterIP", "ExternalName"}, ident(svc)
        mlflow = next(d for d in docs if ident(d) == "Service/affectops/mlflow")
        assert mlflow["spec"]["type"] == "ClusterIP"


def test_rbac_is_namespaced_and_minimal(rendered: dict[str, list[dict]], cluster_config: dict) -> None:
    serving = cluster_config["serving"]["namespace"]
    for overlay, docs in rendered.items():
        kinds = {d["kind"] for d in docs}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, overlay
        roles = [d for d in docs if d["kind"] == "Role"]
        for role in roles:
            for rule in role["rules"]:
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule.get(field, []), f"{overlay} {ident(role)}: wildcard {field}"
        deployer = next(r for r in roles if r["metadata"]["name"] == "inferenceservice-deployer")
        assert deployer["metadata"]["namespace"] == serving
        assert deployer["rules"] == [
            {
                "apiGroups": ["serving.kserve.io"],
                "resources": ["inferenceservices"],
                "verbs": ["get", "create", "patch"],
            }
        ]
        for binding in (d for d in docs if d["kind"] == "RoleBinding"):
            assert binding["roleRef"]["kind"] == "Role", ident(binding)
