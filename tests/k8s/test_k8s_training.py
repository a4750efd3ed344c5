"""The Kubeflow Trainer runtime in k8s/ is the one pipelines/trainer_job.py generates, and the
pipeline runner may manage TrainJobs in its namespace and nothing more."""

from __future__ import annotations

import copy

import pytest
from k8s_support import K8S, ident, load_yaml, lockdown_problems

from pipelines.cluster import load_cluster
from pipelines.trainer_job import training_runtime

pytestmark = pytest.mark.integration

BARE_IMAGE = "affectops-platform"  # what the base carries; each overlay's `images` rewrites it


def _pod(runtime: dict) -> dict:
    (job,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    return job["template"]["spec"]["template"]["spec"]


def test_committed_runtime_is_the_generated_one() -> None:
    generated = training_runtime(load_cluster())
    _pod(generated)["containers"][0]["image"] = BARE_IMAGE
    assert load_yaml(K8S / "base" / "training-runtime.yaml") == generated, (
        "k8s/base/training-runtime.yaml is stale: regenerate it (see its header)"
    )


def test_each_overlay_renders_its_profiles_runtime(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        cluster = load_cluster(overlay)
        (runtime,) = [d for d in docs if d["kind"] == "ClusterTrainingRuntime"]
        assert runtime == training_runtime(cluster), overlay
        assert runtime["metadata"]["name"] == cluster.training_runtime
        assert _pod(runtime)["priorityClassName"] == cluster.priority_class
        assert f"PriorityClass/-/{cluster.priority_class}" in {ident(d) for d in docs}


def test_runtime_pod_is_locked_down(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        (runtime,) = [d for d in docs if d["kind"] == "ClusterTrainingRuntime"]
        # requests and limits come per job (TrainJob resourcesPerNode), sized by cluster.yaml
        problems = lockdown_problems(f"{overlay} {ident(runtime)}", _pod(runtime), require_resources=False)
        assert not problems, "\n".join(problems)


def test_a_changed_runtime_is_caught() -> None:
    # Guards the guard: the comparison sees a one-field difference deep in the pod.
    changed = copy.deepcopy(training_runtime(load_cluster()))
    _pod(changed)["containers"][0]["image"] = BARE_IMAGE
    _pod(changed)["priorityClassName"] = "default"
    assert load_yaml(K8S / "base" / "training-runtime.yaml") != changed


def test_pipeline_runner_manages_trainjobs_in_its_namespace_only(
    rendered: dict[str, list[dict]], cluster_config: dict
) -> None:
    pipelines = cluster_config["pipelines"]
    for overlay, docs in rendered.items():
        role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "trainjob-launcher")
        assert role["metadata"]["namespace"] == pipelines["namespace"], overlay
        assert role["rules"] == [
            {
                "apiGroups": ["trainer.kubeflow.org"],
                "resources": ["trainjobs"],
                "verbs": ["get", "list", "watch", "create", "delete"],
            }
        ]
        (binding,) = [
            d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "trainjob-launcher"
        ]
        assert binding["metadata"]["namespace"] == pipelines["namespace"]
        assert binding["roleRef"]["kind"] == "Role"
        runner = {"kind": "ServiceAccount", "name": pipelines["service_account"]}
        assert binding["subjects"] == [{**runner, "namespace": pipelines["namespace"]}]
