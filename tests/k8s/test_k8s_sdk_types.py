"""Objects the Kubernetes schemas cannot check, read back through their own SDK types: KServe
objects of every overlay (kserve), the compiled KFP pipelines (kfp's protos) and the Kubeflow Trainer
manifests (kubeflow-trainer-api)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from k8s_support import ident, package_version

from pipelines.cluster import load_cluster
from serving.deploy import from_dict, to_dict

pytestmark = pytest.mark.integration

KSERVE_GROUP = "serving.kserve.io"
TRAINER_GROUP = "trainer.kubeflow.org"
KSERVE_TYPES = {
    "InferenceService": "V1beta1InferenceService",
    "ServingRuntime": "V1alpha1ServingRuntime",
    "ClusterServingRuntime": "V1alpha1ClusterServingRuntime",
}
RUNTIME_KINDS = {"ServingRuntime", "ClusterServingRuntime"}
TORCHSERVE_IMAGE = "pytorch/torchserve-kfs:0.9.0"  # the tag KServe 0.15+ pins for its pytorch runtime


def _group(obj: dict) -> str:
    return obj["apiVersion"].rpartition("/")[0]


def _of_group(rendered: dict[str, list[dict]], group: str) -> dict[str, list[dict]]:
    return {overlay: [d for d in docs if _group(d) == group] for overlay, docs in rendered.items()}


def test_every_kserve_object_round_trips_through_the_sdk(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in _of_group(rendered, KSERVE_GROUP).items():
        assert {d["kind"] for d in docs} >= {"ServingRuntime"}, overlay
        for doc in docs:
            assert doc["kind"] in KSERVE_TYPES, f"{overlay} {ident(doc)}: no SDK type known for this kind"
            back = from_dict(doc, KSERVE_TYPES[doc["kind"]])
            assert to_dict(back) == doc, f"{overlay} {ident(doc)} changed on the way through the SDK"


def test_the_sdk_reading_is_strict(rendered: dict[str, list[dict]]) -> None:
    # Guards the guard: a misspelt field in a real runtime must fail, naming where.
    runtime = next(d for d in rendered["self-hosted"] if d["kind"] == "ServingRuntime")
    broken = copy.deepcopy(runtime)
    broken["spec"]["supportedModelFormat"] = broken["spec"].pop("supportedModelFormats")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['supportedModelFormat'\]"):
        from_dict(broken, "V1alpha1ServingRuntime")


def test_serving_runtimes_are_the_ones_cluster_yaml_names(
    rendered: dict[str, list[dict]], cluster_config: dict
) -> None:
    serving = cluster_config["serving"]
    for overlay, docs in rendered.items():
        runtimes = {d["metadata"]["name"]: d for d in docs if d["kind"] in RUNTIME_KINDS}
        assert set(serving["runtimes"].values()) <= set(runtimes), overlay
        platform = runtimes[serving["runtimes"]["kserve"]]
        torchserve = runtimes[serving["runtimes"]["torchserve"]]
        for runtime in (platform, torchserve):
            assert runtime["metadata"]["namespace"] == serving["namespace"], overlay
            assert {"v1", "v2", "grpc-v2"} <= set(runtime["spec"]["protocolVersions"]), overlay
        image = f"{cluster_config['profiles'][overlay]['image']}:{package_version()}"
        assert platform["spec"]["containers"][0]["image"] == image, overlay
        assert platform["spec"]["supportedModelFormats"][0]["name"] == "affectops"
        assert torchserve["spec"]["containers"][0]["image"] == TORCHSERVE_IMAGE
        assert torchserve["spec"]["supportedModelFormats"][0]["name"] == "pytorch"
        account = next(
            d
            for d in docs
            if ident(d) == f"ServiceAccount/{serving['namespace']}/{serving['service_account']}"
        )
        assert account["automountServiceAccountToken"] is False


def test_serving_runtime_containers_are_locked_down(rendered: dict[str, list[dict]]) -> None:
    # ServingRuntimes have no pod securityContext and are no workload kind to test_k8s_security,
    # so every container must carry the whole posture itself.
    problems = []
    for overlay, docs in rendered.items():
        for runtime in (d for d in docs if d["kind"] in RUNTIME_KINDS):
            volumes = {v["name"]: v for v in runtime["spec"].get("volumes", [])}
            for c in runtime["spec"]["containers"]:
                where = f"{overlay} {ident(runtime)} container {c['name']}"
                sc = c.get("securityContext", {})
                expected = {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                }
                for key, value in expected.items():
                    if sc.get(key) != value:
                        problems.append(f"{where}: {key} is {sc.get(key)!r}, not {value!r}")
                if not sc.get("runAsUser"):
                    problems.append(f"{where}: no non-zero runAsUser")
                for bound in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        if res not in c.get("resources", {}).get(bound, {}):
                            problems.append(f"{where}: no {res} {bound}")
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                if "sizeLimit" not in volumes.get(mounts.get("/tmp", ""), {}).get("emptyDir", {}):
                    problems.append(f"{where}: /tmp is not a size-limited emptyDir")
    assert not problems, "\n".join(problems)


def test_mlflow_artifacts_match_the_servers_destination(
    rendered: dict[str, list[dict]], cluster_config: dict
) -> None:
    # the deploy step maps mlflow-artifacts:/ URIs onto this (serving/deploy.py storage_uri)
    for overlay, docs in rendered.items():
        config = next(
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("mlflow-config")
        )
        destination = config["data"]["MLFLOW_ARTIFACTS_DESTINATION"]
        assert cluster_config["profiles"][overlay]["mlflow_artifacts"] == destination, overlay


@pytest.mark.parametrize("profile", ["self-hosted", "cloud-gpu"])
def test_trainer_objects_round_trip_through_the_trainer_sdk(
    rendered: dict[str, list[dict]], profile: str
) -> None:
    from kubeflow_trainer_api import models

    from pipelines.trainer_job import trainer_job, training_runtime

    cluster = load_cluster(profile)
    types = {
        "TrainJob": models.TrainerV1alpha1TrainJob,
        "ClusterTrainingRuntime": models.TrainerV1alpha1ClusterTrainingRuntime,
        "TrainingRuntime": models.TrainerV1alpha1TrainingRuntime,
    }
    job = trainer_job(
        name="hearing-loss-train",
        family="hearing_loss",
        variant=None,
        overrides={"epochs": 15},
        seed=0,
        holdout=None,
        dataset_uri="s3://affectops/datasets/hearing_loss",
        out_uri="/runs/hearing-loss",
        workers=4,
        gpus_per_worker=cluster.gpu_count,
        profile=cluster,
    )
    built = [job, training_runtime(cluster)]
    # Trainer objects rendered in the overlay (the platform's runtime, once k8s/ carries it) too
    shipped = _of_group(rendered, TRAINER_GROUP)[profile]
    for obj in built + shipped:
        assert obj["kind"] in types, f"{ident(obj)}: no SDK type known for this kind"
        assert types[obj["kind"]].from_dict(obj).to_dict() == obj, f"{profile} {ident(obj)}"
    for runtime in shipped:
        assert runtime["metadata"]["name"] == cluster.training_runtime


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from pipelines.training import compile_all

    out = tmp_path_factory.mktemp("ir")
    return [p for profile in ("self-hosted", "cloud-gpu") for p in compile_all(out / profile, profile)]


def _parse_ir(path: Path) -> None:
    """The IR through kfp's own protos; an unknown field anywhere fails."""
    from google.protobuf import json_format
    from kfp.kubernetes import kubernetes_executor_config_pb2
    from kfp.pipeline_spec import pipeline_spec_pb2

    pipeline, *platform = list(yaml.safe_load_all(path.read_text()))
    json_format.ParseDict(pipeline, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    for spec in platform:
        json_format.ParseDict(spec, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)
        executors = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for config in executors.values():  # a Struct to PlatformSpec: parse it as kfp-kubernetes' config
            json_format.ParseDict(
                config, kubernetes_executor_config_pb2.KubernetesExecutorConfig(), ignore_unknown_fields=False
            )


def test_compiled_pipelines_load_with_kfp(compiled: list[Path]) -> None:
    from kfp import components

    assert compiled
    for path in compiled:
        _parse_ir(path)
        name = next(yaml.safe_load_all(path.read_text()))["pipelineInfo"]["name"]
        assert components.load_component_from_file(str(path)).name == name


def test_an_invalid_ir_fails_to_load(compiled: list[Path], tmp_path: Path) -> None:
    from google.protobuf.json_format import ParseError

    pipeline, *platform = list(yaml.safe_load_all(compiled[0].read_text()))
    pipeline["pipelineInfo"]["nmae"] = pipeline["pipelineInfo"].pop("name")
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all([pipeline, *platform]))
    with pytest.raises(ParseError, match="nmae"):
        _parse_ir(broken)
