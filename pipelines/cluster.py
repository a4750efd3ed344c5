"""The cluster settings a pipeline compiles into its tasks, read from ``pipelines/configs/cluster.yaml``.

Node pool labels, tolerations, the image and resource requests live in that file, not in code, so
an admin changes a pool without touching the pipeline. One profile per ``k8s/overlays/<profile>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

CLUSTER_CONFIG = Path(__file__).resolve().parent / "configs" / "cluster.yaml"
# keys of the endpoints ConfigMap, each the settings env var of the same name (core/settings.py)
ENDPOINT_KEYS = (
    "MLFLOW_TRACKING_URI",
    "AFFECTOPS_S3_ENDPOINT_URL",
    "AFFECTOPS_S3_BUCKET",
    "AFFECTOPS_DVC_REMOTE",
    "AFFECTOPS_SINK_URL",
)
# keys of the S3 Secret -> the env vars boto3 and DVC read
S3_SECRET_KEYS = {"access-key-id": "AWS_ACCESS_KEY_ID", "secret-access-key": "AWS_SECRET_ACCESS_KEY"}


@dataclass(frozen=True)
class Resources:
    requests: dict[str, str]
    limits: dict[str, str]


@dataclass(frozen=True)
class ClusterConfig:
    profile: str
    image: str  # repository and tag: the platform image of this package version
    gpu_resource: str  # e.g. nvidia.com/gpu
    gpu_node_selector: dict[str, str]
    gpu_tolerations: list[dict[str, Any]]
    cpu: Resources
    gpu: Resources
    endpoints_config_map: str
    s3_secret: str
    service_account: str
    namespace: str
    priority_class: str  # PriorityClass of GPU pods (training and GPU predictors)
    serving_namespace: str
    predictor_service_account: str  # predictors read model artifacts from S3 as this account
    serving_runtimes: dict[str, str]  # runtime kind (kserve, torchserve) -> ServingRuntime name
    training_runtime: str  # ClusterTrainingRuntime of multi-worker training (Kubeflow Trainer)
    mlflow_artifacts: str  # the MLflow server's artifact destination (s3://...)
    monitoring_namespace: str  # the inference-log sink, report CronJob and Evidently UI
    sink_url: str  # the sink Service's in-cluster URL: predictors' KServe logger posts there

    @property
    def gpu_count(self) -> int:
        """Whole GPUs per training task (requests == limits for extended resources)."""
        return int(self.gpu.limits[self.gpu_resource])


def platform_image(repository: str) -> str:
    """The image of this release (STYLE §3): ``repository:<package version>``."""
    return f"{repository}:{version('affectops')}"


def load_cluster(profile: str | None = None, path: Path = CLUSTER_CONFIG) -> ClusterConfig:
    """The settings of ``profile`` (default: the file's ``default_profile``)."""
    raw = yaml.safe_load(Path(path).read_text())
    profile = profile or raw["default_profile"]
    if profile not in raw["profiles"]:
        raise ValueError(f"unknown cluster profile {profile!r}; known: {', '.join(sorted(raw['profiles']))}")
    chosen = raw["profiles"][profile]
    resources = {
        kind: Resources(
            requests={k: str(v) for k, v in spec["requests"].items()},
            limits={k: str(v) for k, v in spec["limits"].items()},
        )
        for kind, spec in raw["resources"].items()
    }
    return ClusterConfig(
        profile=profile,
        image=platform_image(chosen["image"]),
        gpu_resource=raw["gpu"]["resource"],
        gpu_node_selector={k: str(v) for k, v in chosen["gpu_node_selector"].items()},
        gpu_tolerations=list(chosen["gpu_tolerations"]),
        cpu=resources["cpu"],
        gpu=resources["gpu"],
        endpoints_config_map=raw["pipelines"]["endpoints_config_map"],
        s3_secret=raw["pipelines"]["s3_secret"],
        service_account=raw["pipelines"]["service_account"],
        namespace=raw["pipelines"]["namespace"],
        priority_class=raw["gpu"]["priority_class"],
        serving_namespace=raw["serving"]["namespace"],
        predictor_service_account=raw["serving"]["service_account"],
        serving_runtimes=dict(raw["serving"]["runtimes"]),
        training_runtime=raw["trainer"]["runtime"],
        mlflow_artifacts=chosen["mlflow_artifacts"],
        monitoring_namespace=raw["monitoring"]["namespace"],
        sink_url=raw["monitoring"]["sink_url"],
    )
