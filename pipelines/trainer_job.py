"""Multi-worker training as a Kubeflow Trainer job: the same ``affectops train`` entry point under torchrun.

Trainer v2's ``TrainJob`` (trainer.kubeflow.org/v1alpha1) rather than v1's ``PyTorchJob``: Kubeflow
ships Trainer v2 since 1.10 and keeps the v1 training-operator as legacy. A TrainJob names a
ClusterTrainingRuntime and patches it; the platform's runtime (``training_runtime``) carries what
Trainer 2.3 lets no TrainJob patch (the priority class) and the locked-down pod, while each job
patches in the profile's GPU pool. Values come from ``pipelines/configs/cluster.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from models import get_family
from pipelines.cluster import ENDPOINT_KEYS, S3_SECRET_KEYS, ClusterConfig

API_VERSION = "trainer.kubeflow.org/v1alpha1"
NODE = "node"  # the replicated job and container Trainer's torch runtimes run the trainer in
PATCH_MANAGER = "affectops.io/pipelines"
RUN_AS = 10001  # the platform image's user (docker/platform.Dockerfile)
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def trainer_job(
    *,
    name: str,
    family: str,
    variant: str | None,
    overrides: Mapping[str, Any] | None,
    seed: int,
    holdout: str | None,
    dataset_uri: str,
    out_uri: str,
    workers: int,
    gpus_per_worker: int,
    profile: ClusterConfig,
) -> dict[str, Any]:
    """A TrainJob running ``affectops train`` on ``workers`` nodes of ``gpus_per_worker`` GPUs each
    (0: CPU processes with gloo, off the GPU pool), recording to MLflow.

    ``out_uri`` is the run directory inside each pod (an absolute path, e.g. a mounted volume):
    ``affectops train --out`` writes a local directory; rank 0 records the run in MLflow.
    """
    _check(name, workers, gpus_per_worker, seed, out_uri)
    if holdout is not None:  # a fold index or a partition name: the family says which, now, not in the pod
        get_family(family).data.partitions.holdout(holdout)
    gpu = gpus_per_worker > 0
    train_args = ["train", "--data", dataset_uri, "--family", family, "--seed", str(seed)]
    if variant:
        train_args += ["--variant", variant]
    for key, value in (overrides or {}).items():
        train_args += ["--set", f"{key}={value}"]
    if holdout is not None:
        train_args += ["--holdout", str(holdout)]
    train_args += ["--out", out_uri, "--device", "cuda" if gpu else "cpu", "--tracker", "mlflow"]
    # Trainer's torch policy sets PET_NODE_RANK, PET_MASTER_ADDR and PET_MASTER_PORT, which torchrun
    # reads as --node-rank, --master-addr, --master-port; the sizes are spelt out to match the job.
    command = ["torchrun", "--nnodes", str(workers), "--nproc-per-node", str(max(gpus_per_worker, 1))]
    command += ["--module", "affectops", *train_args]
    resources = profile.gpu if gpu else profile.cpu
    requests, limits = dict(resources.requests), dict(resources.limits)
    if gpu:
        requests[profile.gpu_resource] = limits[profile.gpu_resource] = str(gpus_per_worker)
    spec: dict[str, Any] = {
        "runtimeRef": {
            "apiGroup": "trainer.kubeflow.org",
            "kind": "ClusterTrainingRuntime",
            "name": profile.training_runtime,
        },
        "trainer": {
            "image": profile.image,
            "command": command,
            "env": _env(profile),
            "numNodes": workers,
            "numProcPerNode": max(gpus_per_worker, 1),
            "resourcesPerNode": {"requests": requests, "limits": limits},
        },
    }
    if gpu:
        spec["runtimePatches"] = [_gpu_pool(profile)]
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": {
            "name": name,
            "namespace": profile.namespace,
            "labels": {"app.kubernetes.io/part-of": "affectops", "affectops.io/family": family},
        },
        "spec": spec,
    }


def _gpu_pool(profile: ClusterConfig) -> dict[str, Any]:
    """A runtime patch putting the trainer's pods on the profile's GPU node pool."""
    pod = {
        "nodeSelector": dict(profile.gpu_node_selector),
        "tolerations": [dict(t) for t in profile.gpu_tolerations],
    }
    job = {"name": NODE, "template": {"spec": {"template": {"spec": pod}}}}
    return {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [job]}}},
    }


def _check(name: str, workers: int, gpus_per_worker: int, seed: int, out_uri: str) -> None:
    if not _DNS_LABEL.match(name) or len(name) > 63:
        raise ValueError(f"name: {name!r} is not a DNS-1035 label (lowercase letters, digits, '-', <= 63)")
    if workers < 1:
        raise ValueError(f"workers: {workers} must be at least 1")
    if gpus_per_worker < 0:
        raise ValueError(f"gpus_per_worker: {gpus_per_worker} is negative")
    if seed < 0:
        raise ValueError(f"seed: {seed} is negative")
    if not out_uri.startswith("/"):
        raise ValueError(
            f"out_uri: {out_uri!r} must be an absolute path in the pod (affectops train --out writes "
            "a local run directory; mount a volume there)"
        )


def _env(profile: ClusterConfig) -> list[dict[str, Any]]:
    """The platform settings from the endpoints ConfigMap and S3 credentials from their Secret."""
    # the S3 endpoint is unset on AWS-style profiles, so every ConfigMap key is optional
    env = [
        {
            "name": key,
            "valueFrom": {
                "configMapKeyRef": {"name": profile.endpoints_config_map, "key": key, "optional": True}
            },
        }
        for key in ENDPOINT_KEYS
    ]
    env += [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": profile.s3_secret, "key": key}}}
        for key, var in S3_SECRET_KEYS.items()
    ]
    return [*env, {"name": "HOME", "value": "/tmp"}]


def training_runtime(profile: ClusterConfig) -> dict[str, Any]:
    """The platform's ClusterTrainingRuntime (named ``profile.training_runtime``): Trainer's torch
    policy on the platform image, GPU priority class, every container locked down like k8s/."""
    container = {
        "name": NODE,
        "image": profile.image,
        "command": ["affectops", "train", "--help"],  # every TrainJob replaces it
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # torch's shared-memory tensors need /dev/shm beyond the runtime's 64 MiB default
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "dshm", "mountPath": "/dev/shm"}],
    }
    pod = {
        "priorityClassName": profile.priority_class,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
        ],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterTrainingRuntime",
        "metadata": {
            "name": profile.training_runtime,
            "labels": {"trainer.kubeflow.org/framework": "torch", "app.kubernetes.io/part-of": "affectops"},
        },
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": NODE,
                            "template": {
                                # Trainer finds the trainer step of a runtime by this label
                                "metadata": {
                                    "labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
                                },
                                "spec": {"template": {"spec": pod}},
                            },
                        }
                    ]
                }
            },
        },
    }


def to_yaml(manifest: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(manifest), sort_keys=False)
