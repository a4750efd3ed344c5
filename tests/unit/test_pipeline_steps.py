"""The training pipeline's steps: plain functions (components/steps.py) and their components'
``python_func`` on ``tmp_path`` artifacts (STYLE §4, levels 1 and 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from config_support import as_overrides
from kfp import dsl

from components import steps
from components.kfp_ops import build_components
from models import get_family
from models.hearing_loss.dataset import FOLDS_FILE, MANIFEST_FILE, read_manifest
from pipelines.cluster import load_cluster

FAMILY = "hearing_loss"
pytestmark = pytest.mark.unit

TINY_MODEL = as_overrides(get_family(FAMILY).train.tiny())


@pytest.fixture(scope="module")
def ops():
    return build_components(load_cluster().image)


def _artifact(kind: type, path: Path, **metadata) -> dsl.Artifact:
    return kind(name=path.name, uri=str(path), metadata=dict(metadata))


# --- plain functions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", {}),
        ("", {}),
        ('{"epochs": 2, "lr": 0.001}', {"epochs": 2, "lr": 0.001}),
        ('["epochs=2", "variant=marlin_anchor"]', {"epochs": "2", "variant": "marlin_anchor"}),
        (["epochs=2"], {"epochs": "2"}),
    ],
)
def test_overrides_are_a_json_object_or_a_list_of_assignments(text, expected) -> None:
    assert steps.parse_overrides(text) == expected


@pytest.mark.parametrize("text", ["3", '"epochs=2"', '["epochs"]', "[1]"])
def test_malformed_overrides_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        steps.parse_overrides(text)


def test_thresholds_are_a_json_object_of_named_gates() -> None:
    parsed = steps.parse_thresholds('{"quality": {"f1": 0.5}, "age_probe": {"abs_age_probe_r": 1}}')
    assert parsed == {"quality": {"f1": 0.5}, "age_probe": {"abs_age_probe_r": 1.0}}
    for bad, message in (
        ("[0.5]", "gate thresholds must be a JSON object"),
        ('{"f1": 0.5}', "gate 'f1': must map metric -> number"),
        ('{"quality": {"f1": "high"}}', "must be a finite number"),
        ("{quality", "not valid JSON"),
    ):
        with pytest.raises(ValueError, match=message):
            steps.parse_thresholds(bad)


def test_pipeline_parameters_build_the_familys_config() -> None:
    config = steps.build_config(
        "hearing_loss", variant="marlin_anchor", overrides=json.dumps(TINY_MODEL), seed=3, epochs=2
    )
    assert (config.variant, config.seed, config.epochs, config.gru_hidden) == ("marlin_anchor", 3, 2, 8)
    default = steps.build_config("hearing_loss", variant="", overrides="{}", seed=0, epochs=0)
    assert default.variant == type(default)().variant and default.epochs == type(default)().epochs
    with pytest.raises(ValueError, match="unknown config field"):
        steps.build_config("hearing_loss", overrides='{"nope": 1}')
    with pytest.raises(ValueError, match="unknown family"):
        steps.build_config("no_such_family")


def test_a_dataset_is_named_after_its_uri() -> None:
    assert steps.dataset_name("s3://affectops/datasets/hl-demo/") == "hl-demo"
    assert steps.dataset_name("/data/cohorts/tiny") == "tiny"


def test_split_keeps_a_datasets_own_folds_and_splits_one_without(
    tiny_cohort: Path, tiny_split: Path, tmp_path: Path
) -> None:
    (tmp_path / "kept").mkdir()  # KFP may create the output directory first
    assert steps.ensure_split(FAMILY, tiny_split, tmp_path / "kept") is False
    assert (tmp_path / "kept" / FOLDS_FILE).read_bytes() == (tiny_split / FOLDS_FILE).read_bytes()
    assert steps.ensure_split(FAMILY, tiny_cohort, tmp_path / "new", n_folds=5, seed=0) is True
    assert (tmp_path / "new" / FOLDS_FILE).exists() and not (tiny_cohort / FOLDS_FILE).exists()


# --- components' python_func on tmp_path artifacts ------------------------------------------------


def test_validate_component_writes_data_docs_and_passes_a_clean_cohort(
    ops, tiny_split: Path, tmp_path: Path
) -> None:
    docs = _artifact(dsl.HTML, tmp_path / "out" / "data_docs")
    site = _artifact(dsl.Artifact, tmp_path / "out" / "site")
    ops.validate_data.python_func(
        family="hearing_loss", dataset=_artifact(dsl.Dataset, tiny_split), data_docs=docs, data_docs_site=site
    )
    assert "<html" in Path(docs.path).read_text().lower()
    assert json.loads((Path(site.path) / "validation.json").read_text())["success"] is True


def test_validate_component_stops_the_pipeline_on_a_broken_cohort(
    ops, tiny_split: Path, tmp_path: Path
) -> None:
    cohort = Path(shutil.copytree(tiny_split, tmp_path / "cohort"))
    manifest = read_manifest(cohort)
    manifest.loc[0, "age"] = 250  # no subject is 250 years old
    manifest.to_parquet(cohort / MANIFEST_FILE, index=False)
    site = _artifact(dsl.Artifact, tmp_path / "out" / "site")
    with pytest.raises(steps.DataValidationError, match="expectation"):
        ops.validate_data.python_func(
            family="hearing_loss",
            dataset=_artifact(dsl.Dataset, cohort),
            data_docs=_artifact(dsl.HTML, tmp_path / "out" / "data_docs"),
            data_docs_site=site,
        )
    # the docs and the report are written before the gate raises: the UI shows why
    report = json.loads((Path(site.path) / "validation.json").read_text())
    assert report["success"] is False and any("age" in f["description"] for f in report["failures"])


def test_split_component_outputs_a_split_dataset(ops, tiny_cohort: Path, tmp_path: Path) -> None:
    split = _artifact(dsl.Dataset, tmp_path / "split")
    made = ops.split_data.python_func(
        family=FAMILY, dataset=_artifact(dsl.Dataset, tiny_cohort), n_folds=5, seed=0, split=split
    )
    assert made is True and (Path(split.path) / FOLDS_FILE).exists()


@pytest.fixture(scope="module")
def tiny_model(trained_tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch model in the Model artifact layout (``<dir>/model.pt``), trained without MLflow."""
    path = trained_tiny(steps.build_config("hearing_loss", overrides=TINY_MODEL))
    root = tmp_path_factory.mktemp("model")
    model_dir = root / "model"
    model_dir.mkdir()
    shutil.copy2(path, model_dir / steps.MODEL_FILE)
    return model_dir


def test_evaluate_component_logs_metrics_the_full_report_and_the_reference(
    ops, tiny_model: Path, tiny_split: Path, tmp_path: Path
) -> None:
    metrics = _artifact(dsl.Metrics, tmp_path / "metrics")
    report = _artifact(dsl.Artifact, tmp_path / "report.json")
    reference = _artifact(dsl.Dataset, tmp_path / "reference.parquet")
    ops.evaluate_model.python_func(
        family="hearing_loss",
        holdout="0",
        model=_artifact(dsl.Model, tiny_model),
        dataset=_artifact(dsl.Dataset, tiny_split),
        metrics=metrics,
        report=report,
        reference=reference,
    )
    scores = json.loads(Path(report.path).read_text())
    assert 0.0 <= scores["f1"] <= 1.0 and metrics.metadata["f1"] == scores["f1"]
    assert all(isinstance(value, float) for value in metrics.metadata.values())
    # one monitoring record per held-out segment, answered, then the trained-on segments' inputs
    # and demographics, unanswered; in the inference store's schema
    rows = pd.read_parquet(reference.path)
    answered = rows[rows["scored"]]
    assert len(answered) == scores["segments"] and answered["probability"].between(0, 1).all()
    assert len(rows) > len(answered) and rows.loc[~rows["scored"], "probability"].isna().all()
    held_out = set(answered["subject_pseudonym"])
    assert held_out.isdisjoint(rows.loc[~rows["scored"], "subject_pseudonym"])
    assert {"probability", "label", "age", "gender", "subject_pseudonym", "current_mean"} <= set(rows)
    assert len(rows["current_mean"].iloc[0]) == 384
    with pytest.raises(ValueError, match="in this model's training data"):  # fold 1 was trained on
        ops.evaluate_model.python_func(
            family="hearing_loss",
            holdout="1",
            model=_artifact(dsl.Model, tiny_model),
            dataset=_artifact(dsl.Dataset, tiny_split),
            metrics=_artifact(dsl.Metrics, tmp_path / "m2"),
            report=_artifact(dsl.Artifact, tmp_path / "r2.json"),
            reference=_artifact(dsl.Dataset, tmp_path / "ref2.parquet"),
        )
