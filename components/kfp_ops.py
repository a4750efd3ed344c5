"""Thin KFP components over ``components/steps.py`` (STYLE §1): paths and parameters in, one call.

The bodies are shipped as source into the platform image (STYLE §3), so each imports what it
uses inside. ``build_components(image)`` decorates them for one image; the plain functions stay
importable without an image, and ``<component>.python_func`` is each body for tests.
No ``from __future__ import annotations`` here: KFP reads the artifact annotations at runtime.
"""

import functools
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output
from kfp.dsl.base_component import BaseComponent


def version_data(dataset_uri: str, dataset_version: str, dataset: Output[Dataset]) -> str:
    """Fetch ``dataset_version`` from DVC, or version ``dataset_uri`` as it is; the version."""
    from pathlib import Path

    from components import steps
    from core.settings import load_settings

    version = steps.resolve_dataset(
        dataset_uri, dataset_version, Path(dataset.path), settings=load_settings()
    )
    dataset.metadata["dataset_version"] = version
    return version


def validate_data(
    family: str, dataset: Input[Dataset], data_docs: Output[HTML], data_docs_site: Output[Artifact]
) -> None:
    """Great Expectations gate: Data Docs (index page for the UI, the whole site beside); raise on failure."""
    import shutil
    from pathlib import Path

    from components import steps

    site = Path(data_docs_site.path)
    report = steps.validate_dataset(family, Path(dataset.path), site, site / "validation.json")
    Path(data_docs.path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(site / "index.html", data_docs.path)
    steps.require_valid(report)


def split_data(family: str, dataset: Input[Dataset], n_folds: int, seed: int, split: Output[Dataset]) -> bool:
    """Subject-independent folds, unless the dataset has its own; whether it split."""
    from pathlib import Path

    from components import steps

    return steps.ensure_split(family, Path(dataset.path), Path(split.path), n_folds=n_folds, seed=seed)


def train_model(
    family: str,
    variant: str,
    overrides: str,
    seed: int,
    holdout: str,
    epochs: int,
    dataset_version: str,
    lineage: str,
    dataset: Input[Dataset],
    model: Output[Model],
) -> str:
    """Train the family's model without the ``holdout`` partition (a fold index or a partition's name;
    empty: the family's default); the MLflow run id. ``lineage``
    (JSON, may be empty) says what started the run, e.g. a monitoring breach and its logged window."""
    from pathlib import Path

    from components import steps
    from core.settings import load_settings

    config = steps.build_config(family, variant=variant, overrides=overrides, seed=seed, epochs=epochs)
    tags = {"dataset_version": dataset_version, "lineage": lineage}
    _, run_id = steps.train_model(
        family,
        Path(dataset.path),
        Path(model.path),
        config,
        holdout=holdout,
        settings=load_settings(),
        tags={key: value for key, value in tags.items() if value},
    )
    model.metadata.update({"family": family, "mlflow_run_id": run_id})
    return run_id


def evaluate_model(
    family: str,
    holdout: str,
    model: Input[Model],
    dataset: Input[Dataset],
    metrics: Output[Metrics],
    report: Output[Artifact],
    reference: Output[Dataset],
) -> None:
    """The family's metrics on the held-out partition: as KFP metrics, as the full JSON report, and the
    held-out predictions as the monitoring reference of this model."""
    from pathlib import Path

    from components import steps
    from components.tracking import float_metrics

    scores = steps.evaluate_model(
        family,
        Path(model.path) / steps.MODEL_FILE,
        Path(dataset.path),
        holdout,
        Path(report.path),
        Path(reference.path),
    )
    for key, value in float_metrics(scores).items():
        metrics.log_metric(key, value)


def register_model(
    family: str,
    dataset_version: str,
    pipeline_run_id: str,
    training_run_id: str,
    model: Input[Model],
    report: Input[Artifact],
    data_docs_site: Input[Artifact],
    reference: Input[Dataset],
) -> int:
    """Log the model, its report, the Data Docs and the monitoring reference into the training run;
    register it as ``challenger``."""
    from pathlib import Path

    from components import steps
    from core.settings import load_settings

    tags = {
        "dataset_version": dataset_version,
        "pipeline_run_id": pipeline_run_id,
        "training_run_id": training_run_id,
    }
    return steps.register_model(
        family,
        Path(model.path) / steps.MODEL_FILE,
        Path(report.path),
        tags=tags,
        settings=load_settings(),
        run_id=training_run_id,
        artifacts={"data_docs": Path(data_docs_site.path)},
        reference_path=Path(reference.path),
    )


def promote_model(family: str, version: int, gate_thresholds: str) -> str:
    """Gate the version; on a pass it becomes ``champion``. The gate's verdict, also tagged in MLflow."""
    from components import steps
    from core.settings import load_settings

    result = steps.promote_model(family, version, gate_thresholds, settings=load_settings())
    verdicts = "; ".join(f"{name} {gate.describe()}" for name, gate in result.gates.items())
    return f"version {version} {'promoted to champion' if result.promoted else 'not promoted'}: {verdicts}"


class Ops(NamedTuple):
    version_data: BaseComponent
    validate_data: BaseComponent
    split_data: BaseComponent
    train_model: BaseComponent
    evaluate_model: BaseComponent
    register_model: BaseComponent
    promote_model: BaseComponent


@functools.cache
def build_components(image: str) -> Ops:
    """Every step as a component running in ``image``, which already holds kfp and this package."""

    def component(func):
        return dsl.component(func, base_image=image, install_kfp_package=False)

    return Ops(
        version_data=component(version_data),
        validate_data=component(validate_data),
        split_data=component(split_data),
        train_model=component(train_model),
        evaluate_model=component(evaluate_model),
        register_model=component(register_model),
        promote_model=component(promote_model),
    )
