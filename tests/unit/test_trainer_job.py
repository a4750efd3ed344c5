"""The Kubeflow Trainer job for multi-worker training: its fields, its command line parsed back by
torchrun and the ``affectops train`` command, GPU scheduling, and bad input."""

from __future__ import annotations

import pytest

from pipelines.cluster import load_cluster
from pipelines.trainer_job import to_yaml, trainer_job, training_runtime

pytestmark = pytest.mark.unit

JOB = {
    "name": "hearing-loss-train",
    "family": "hearing_loss",
    "variant": "marlin_vm_abm",
    "overrides": {"epochs": 15, "lr": 1e-4},
    "seed": 3,
    "holdout": "1",
    "dataset_uri": "s3://affectops/datasets/hearing_loss-v1",
    "out_uri": "/runs/hearing-loss",
    "workers": 2,
    "gpus_per_worker": 4,
}


def _job(profile: str = "cloud-gpu", **changes) -> dict:
    return trainer_job(**{**JOB, **changes}, profile=load_cluster(profile))


def test_trainjob_fields() -> None:
    cluster = load_cluster("cloud-gpu")
    job = _job()
    assert (job["apiVersion"], job["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert job["metadata"]["name"] == "hearing-loss-train"
    assert job["metadata"]["namespace"] == cluster.namespace
    assert job["spec"]["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": cluster.training_runtime,
    }
    trainer = job["spec"]["trainer"]
    assert trainer["image"] == cluster.image
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 4)
    env = {e["name"]: e["valueFrom"] for e in trainer["env"] if "valueFrom" in e}
    assert env["MLFLOW_TRACKING_URI"]["configMapKeyRef"]["name"] == cluster.endpoints_config_map
    assert env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"] == {
        "name": cluster.s3_secret,
        "key": "secret-access-key",
    }


def test_command_parses_back_with_torchrun_and_the_train_cli() -> None:
    import typer.main
    from torch.distributed.run import get_args_parser

    from affectops.cli import app

    command = _job()["spec"]["trainer"]["command"]
    assert command[0] == "torchrun"
    launched = get_args_parser().parse_args(command[1:])
    assert (launched.nnodes, launched.nproc_per_node, launched.module) == ("2", "4", True)
    assert launched.training_script == "affectops"
    train_args = launched.training_script_args
    assert train_args[0] == "train"
    train = typer.main.get_command(app).commands["train"]
    # click parses and converts every option as `affectops train` would, without running it
    params = train.make_context("train", list(train_args[1:])).params
    assert params["data_uri"] == JOB["dataset_uri"]
    assert (params["family"], params["variant"], params["seed"]) == ("hearing_loss", "marlin_vm_abm", 3)
    assert params["holdout"] == "1" and str(params["out"]) == JOB["out_uri"]
    assert sorted(params["overrides"]) == ["epochs=15", "lr=0.0001"]
    assert (params["device"], params["tracker"]) == ("cuda", "mlflow")


@pytest.mark.parametrize("profile", ["self-hosted", "cloud-gpu"])
def test_gpu_workers_land_on_the_profiles_gpu_pool(profile: str) -> None:
    cluster = load_cluster(profile)
    job = _job(profile)
    resources = job["spec"]["trainer"]["resourcesPerNode"]
    assert resources["limits"][cluster.gpu_resource] == resources["requests"][cluster.gpu_resource] == "4"
    (patch,) = job["spec"]["runtimePatches"]
    (replicated,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert replicated["name"] == "node"  # the trainer's job in Trainer's torch runtimes
    pod = replicated["template"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == cluster.gpu_node_selector
    assert pod["tolerations"] == cluster.gpu_tolerations
    # what a TrainJob cannot patch, the platform's runtime carries
    runtime_pod = training_runtime(cluster)["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]
    assert runtime_pod["spec"]["template"]["spec"]["priorityClassName"] == cluster.priority_class


def test_cpu_workers_stay_off_the_gpu_pool() -> None:
    cluster = load_cluster()
    job = _job("self-hosted", gpus_per_worker=0)
    assert "runtimePatches" not in job["spec"]
    trainer = job["spec"]["trainer"]
    assert trainer["resourcesPerNode"] == {"requests": cluster.cpu.requests, "limits": cluster.cpu.limits}
    assert trainer["numProcPerNode"] == 1
    assert trainer["command"][trainer["command"].index("--device") + 1] == "cpu"
    # no variant, overrides or held-out fold: the CLI's defaults apply
    bare = _job(variant=None, overrides=None, holdout=None)["spec"]["trainer"]["command"]
    assert not {"--variant", "--set", "--holdout"} & set(bare)


def test_runtime_containers_are_locked_down() -> None:
    runtime = training_runtime(load_cluster())
    assert runtime["kind"] == "ClusterTrainingRuntime" and runtime["spec"]["mlPolicy"]["torch"] == {}
    pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]]["emptyDir"]["sizeLimit"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "20Gi", "/dev/shm": "8Gi"}  # the read-only root's only writable paths


@pytest.mark.parametrize("profile", ["self-hosted", "cloud-gpu"])
def test_manifests_pass_the_trainer_sdk_types(profile: str) -> None:
    """Trainer's own API models (kubeflow-trainer-api) read both manifests back without losing a field."""
    from kubeflow_trainer_api.models import TrainerV1alpha1ClusterTrainingRuntime, TrainerV1alpha1TrainJob

    for gpus in (0, 4):
        job = _job(profile, gpus_per_worker=gpus)
        assert TrainerV1alpha1TrainJob.from_dict(job).to_dict() == job
    runtime = training_runtime(load_cluster(profile))
    assert TrainerV1alpha1ClusterTrainingRuntime.from_dict(runtime).to_dict() == runtime
    # a misspelt field is dropped by the SDK, so the round trip is what catches it
    broken = _job(profile)
    broken["spec"]["trainer"]["numProcsPerNode"] = broken["spec"]["trainer"].pop("numProcPerNode")
    assert TrainerV1alpha1TrainJob.from_dict(broken).to_dict() != broken
    with pytest.raises(ValueError, match="numNodes"):  # pydantic: a string is no StrictInt
        TrainerV1alpha1TrainJob.from_dict({**job, "spec": {**job["spec"], "trainer": {"numNodes": "2"}}})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Train_1"}, "name: 'Train_1' is not a DNS-1035 label"),
        ({"workers": 0}, "workers: 0 must be at least 1"),
        ({"gpus_per_worker": -1}, "gpus_per_worker: -1 is negative"),
        ({"seed": -2}, "seed: -2 is negative"),
        ({"holdout": "-1"}, "holdout '-1': a fold index is >= 0"),
        # a family of named partitions (audio emotion: S1-S4) takes a name, not a fold index
        ({"family": "audio_emotion", "holdout": "1"}, "holdout '1': not one of this family's partitions"),
        ({"out_uri": "s3://affectops/runs"}, "out_uri: 's3://affectops/runs' must be an absolute path"),
    ],
)
def test_bad_input_is_named(changes: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        _job(**changes)
    assert message in str(err.value)


def test_yaml_round_trips() -> None:
    import yaml

    job = _job()
    assert yaml.safe_load(to_yaml(job)) == job


def test_a_named_partition_is_held_out_as_named() -> None:
    command = _job(family="audio_emotion", holdout="S4")["spec"]["trainer"]["command"]
    assert command[command.index("--holdout") + 1] == "S4"
