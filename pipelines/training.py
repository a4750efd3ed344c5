"""The training pipeline, one for every family: version, validate, split, train, evaluate, register, promote.

``family`` is a run parameter, not a code path: each step reaches the model through
``models.get_family``. Where tasks run (node pools, GPUs, requests, image) comes from
``pipelines/configs/cluster.yaml`` through ``pipelines.cluster``.
No ``from __future__ import annotations``: KFP reads the pipeline's parameter annotations at runtime.
"""

from pathlib import Path

from kfp import compiler, dsl, kubernetes
from kfp.dsl.base_component import BaseComponent

from components.kfp_ops import build_components
from models import DEFAULT_FAMILY
from pipelines.cluster import ENDPOINT_KEYS, S3_SECRET_KEYS, ClusterConfig, Resources, load_cluster

PIPELINE_NAME = "affectops-training"
DEFAULT_DATASET_URI = f"s3://affectops/datasets/{DEFAULT_FAMILY}-demo"  # the headline family's demo data


def _on_cluster(task: dsl.PipelineTask, cluster: ClusterConfig, resources: Resources) -> dsl.PipelineTask:
    """Requests, limits and the platform's endpoints and S3 credentials as env vars."""
    task.set_cpu_request(resources.requests["cpu"]).set_memory_request(resources.requests["memory"])
    task.set_cpu_limit(resources.limits["cpu"]).set_memory_limit(resources.limits["memory"])
    kubernetes.use_config_map_as_env(
        task, cluster.endpoints_config_map, {key: key for key in ENDPOINT_KEYS}, optional=True
    )
    # optional: a cluster whose pods reach S3 through workload identity has no key Secret
    kubernetes.use_secret_as_env(task, cluster.s3_secret, dict(S3_SECRET_KEYS), optional=True)
    return task


def _on_gpu_pool(task: dsl.PipelineTask, cluster: ClusterConfig) -> dsl.PipelineTask:
    task.set_accelerator_type(cluster.gpu_resource).set_accelerator_limit(cluster.gpu_count)
    for label, value in cluster.gpu_node_selector.items():
        kubernetes.add_node_selector(task, label, value)
    for toleration in cluster.gpu_tolerations:
        kubernetes.add_toleration(
            task,
            key=toleration.get("key"),
            operator=toleration.get("operator"),
            value=toleration.get("value"),
            effect=toleration.get("effect"),
        )
    return task


def training_pipeline(profile: str | None = None) -> BaseComponent:
    """The training pipeline for a cluster profile (default: cluster.yaml's ``default_profile``)."""
    cluster = load_cluster(profile)
    ops = build_components(cluster.image)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Train, evaluate and register a model of any family; promote it if it passes the gates.",
    )
    def training(
        dataset_uri: str = DEFAULT_DATASET_URI,
        dataset_version: str = "",
        family: str = DEFAULT_FAMILY,
        variant: str = "",
        overrides: str = "{}",
        seed: int = 0,
        holdout: str = "",
        epochs: int = 0,
        n_folds: int = 5,
        gate_thresholds: str = "",
        promote: bool = False,
        lineage: str = "",
    ):
        cpu = cluster.cpu
        data = _on_cluster(
            ops.version_data(dataset_uri=dataset_uri, dataset_version=dataset_version), cluster, cpu
        )
        validated = _on_cluster(
            ops.validate_data(family=family, dataset=data.outputs["dataset"]), cluster, cpu
        )
        split = _on_cluster(
            ops.split_data(family=family, dataset=data.outputs["dataset"], n_folds=n_folds, seed=seed),
            cluster,
            cpu,
        ).after(validated)
        train = ops.train_model(
            family=family,
            variant=variant,
            overrides=overrides,
            seed=seed,
            holdout=holdout,
            epochs=epochs,
            dataset_version=data.outputs["Output"],
            lineage=lineage,
            dataset=split.outputs["split"],
        )
        _on_gpu_pool(_on_cluster(train, cluster, cluster.gpu), cluster)
        evaluate = _on_cluster(
            ops.evaluate_model(
                family=family,
                holdout=holdout,
                model=train.outputs["model"],
                dataset=split.outputs["split"],
            ),
            cluster,
            cpu,
        )
        register = _on_cluster(
            ops.register_model(
                family=family,
                dataset_version=data.outputs["Output"],
                pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                training_run_id=train.outputs["Output"],
                model=train.outputs["model"],
                report=evaluate.outputs["report"],
                data_docs_site=validated.outputs["data_docs_site"],
                reference=evaluate.outputs["reference"],
            ),
            cluster,
            cpu,
        )
        register.set_caching_options(False)  # writes to the registry: a cached hit would register nothing
        with dsl.If(promote == True, name="promote"):  # noqa: E712  (a KFP condition, not a Python bool)
            gate = ops.promote_model(family=family, version=register.output, gate_thresholds=gate_thresholds)
            _on_cluster(gate, cluster, cpu).set_caching_options(False)

    return training


PIPELINES = {"training": training_pipeline}


def compile_all(out_dir: Path, profile: str | None = None) -> list[Path]:
    """Write the IR YAML of every pipeline into ``out_dir`` (uploadable in the Kubeflow UI)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in PIPELINES.items():
        path = out_dir / f"{name}.yaml"
        compiler.Compiler().compile(pipeline_func=build(profile), package_path=str(path))
        written.append(path)
    return written
