"""pipelines/configs/cluster.yaml, the overlays, the package and its settings agree."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from k8s_support import K8S, OVERLAYS, REPO, ident, load_yaml, package_version, pinned_version, pod_spec

from core.settings import load_settings

pytestmark = pytest.mark.integration

_QUANTITY = re.compile(r"^(?P<num>\d+(\.\d+)?)(?P<unit>m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_UNITS["Ti"] = 2**40


def _quantity(value: str | int) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"not a Kubernetes quantity: {value!r}"
    return float(match["num"]) * _UNITS[match["unit"]]


def test_one_profile_per_overlay(cluster_config: dict) -> None:
    assert set(cluster_config["profiles"]) == set(OVERLAYS)


def test_scheduling_names_exist_in_every_overlay(
    rendered: dict[str, list[dict]], cluster_config: dict
) -> None:
    for overlay, docs in rendered.items():
        ids = {ident(d) for d in docs}
        assert f"PriorityClass/-/{cluster_config['gpu']['priority_class']}" in ids, overlay
        assert f"Namespace/-/{cluster_config['serving']['namespace']}" in ids, overlay
        pipelines = cluster_config["pipelines"]
        assert f"ConfigMap/{pipelines['namespace']}/{pipelines['endpoints_config_map']}" in ids, overlay
        bindings = [d for d in docs if d["kind"] == "RoleBinding"]
        (binding,) = [b for b in bindings if b["roleRef"]["name"] == "inferenceservice-deployer"]
        assert binding["metadata"]["namespace"] == cluster_config["serving"]["namespace"]
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": pipelines["service_account"],
                "namespace": pipelines["namespace"],
            }
        ]


def test_cpu_services_avoid_the_profiles_gpu_pool(
    rendered: dict[str, list[dict]], cluster_config: dict
) -> None:
    for overlay, docs in rendered.items():
        gpu_labels = set(cluster_config["profiles"][overlay]["gpu_node_selector"])
        for obj in docs:
            spec = pod_spec(obj)
            if spec is None or obj["kind"] == "Job":
                continue
            terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            avoided = {
                e["key"]
                for term in terms["nodeSelectorTerms"]
                for e in term["matchExpressions"]
                if e["operator"] == "DoesNotExist"
            }
            assert avoided == gpu_labels, f"{overlay} {ident(obj)} avoids {avoided}, GPU pool is {gpu_labels}"


def test_gpu_tolerations_and_resources_are_well_formed(cluster_config: dict) -> None:
    gpu = cluster_config["gpu"]["resource"]
    for name, profile in cluster_config["profiles"].items():
        assert profile["gpu_node_selector"], name
        for toleration in profile["gpu_tolerations"]:
            assert toleration["operator"] in {"Exists", "Equal"}, name
            assert toleration["effect"] in {"NoSchedule", "PreferNoSchedule", "NoExecute"}, name
    for step, res in cluster_config["resources"].items():
        for key in ("cpu", "memory"):
            assert _quantity(res["requests"][key]) <= _quantity(res["limits"][key]), (step, key)
    gpu_step = cluster_config["resources"]["gpu"]
    # Extended resources cannot be overcommitted: Kubernetes requires requests == limits.
    assert gpu_step["requests"][gpu] == gpu_step["limits"][gpu]
    assert _quantity(gpu_step["limits"][gpu]) >= 1
    assert gpu not in cluster_config["resources"]["cpu"]["limits"]


def test_platform_image_is_tagged_with_the_package_version(cluster_config: dict) -> None:
    for overlay in OVERLAYS:
        kustomization = load_yaml(K8S / "overlays" / overlay / "kustomization.yaml")
        (entry,) = [i for i in kustomization["images"] if i["name"] == cluster_config["image"]["name"]]
        assert entry["newName"] == cluster_config["profiles"][overlay]["image"], overlay
        assert entry["newTag"] == package_version(), overlay


def test_mlflow_image_matches_the_pinned_mlflow(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        deployment = next(d for d in docs if ident(d) == "Deployment/affectops/mlflow")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"ghcr.io/mlflow/mlflow:v{pinned_version('mlflow')}-full", overlay


def _service_ports(docs: list[dict]) -> dict[str, set[int]]:
    return {
        f"{d['metadata']['name']}.{d['metadata']['namespace']}.svc.cluster.local": {
            p["port"] for p in d["spec"].get("ports", [])
        }
        for d in docs
        if d["kind"] == "Service"
    }


def test_endpoints_point_at_rendered_services(rendered: dict[str, list[dict]], cluster_config: dict) -> None:
    name = cluster_config["pipelines"]["endpoints_config_map"]
    for overlay, docs in rendered.items():
        services = _service_ports(docs)
        envs = [d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
        assert len(envs) == 2, f"{overlay}: one {name} for pipeline pods, one for monitoring"
        for env in envs:
            _check_endpoints(overlay, env, services, docs)


def _check_endpoints(
    overlay: str, env: dict[str, str], services: dict[str, set[int]], docs: list[dict]
) -> None:
    """The settings in one endpoints ConfigMap name rendered Services and the MLflow server's store."""
    # Every key is a variable the platform's settings read, and they land where expected.
    settings = load_settings(env)
    assert settings.mlflow_tracking_uri == env["MLFLOW_TRACKING_URI"]
    assert settings.s3_bucket == env["AFFECTOPS_S3_BUCKET"]
    assert settings.dvc_remote == env["AFFECTOPS_DVC_REMOTE"]
    assert settings.dvc_remote.startswith(f"s3://{settings.s3_bucket}/")
    assert set(env) <= {
        "MLFLOW_TRACKING_URI",
        "AFFECTOPS_S3_ENDPOINT_URL",
        "AFFECTOPS_S3_BUCKET",
        "AFFECTOPS_DVC_REMOTE",
        "AFFECTOPS_SINK_URL",
        "AFFECTOPS_INFERENCE_LOG_REMOTE",
    }
    if "AFFECTOPS_INFERENCE_LOG_REMOTE" in env:  # the sink uploads there and the report reads it
        assert settings.inference_log_remote.startswith(f"s3://{settings.s3_bucket}/")
    urls = [settings.mlflow_tracking_uri] + ([settings.s3_endpoint_url] if settings.s3_endpoint_url else [])
    for url in urls:
        parsed = urlparse(url)
        assert parsed.port in services.get(parsed.hostname, set()), f"{overlay}: no Service for {url}"
    mlflow_config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("mlflow-config")
    )["data"]
    assert mlflow_config["MLFLOW_ARTIFACTS_DESTINATION"].startswith(f"s3://{settings.s3_bucket}/")
    backend = urlparse(mlflow_config["MLFLOW_BACKEND_STORE_URI"])
    assert backend.password is None and backend.username is None, "credentials belong in the Secret"
    assert backend.port in services.get(backend.hostname, set()), f"{overlay}: no Service for the DB"
    s3_endpoint = mlflow_config.get("MLFLOW_S3_ENDPOINT_URL")
    assert s3_endpoint == settings.s3_endpoint_url, overlay


def test_pss_version_labels_follow_the_validated_kubernetes(validation_config: dict) -> None:
    minor = "v" + ".".join(str(validation_config["kubernetes_version"]).split(".")[:2])
    for path in [*K8S.rglob("*.yaml")]:
        for found in re.findall(r"pod-security\.kubernetes\.io/\w+-version: (\S+)", path.read_text()):
            assert found == minor, f"{path}: {found} but validation pins {minor}"
    assert (REPO / "k8s" / "kubeflow-pipelines" / "cluster-scoped" / "kustomization.yaml").is_file()
