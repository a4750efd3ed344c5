"""The expression family through the platform's family-generic paths: split, validate, train and
evaluate from a pipeline config, serve, compile; nothing outside models/expression knows it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from components.split import is_split, split_cohort
from components.steps import build_config, evaluate_model
from components.validate import validate_cohort
from core.settings import load_settings
from models import get_family
from models.common.tracking import NullTracker
from serving.core import Predictor

pytestmark = pytest.mark.e2e

FAMILY = "expression"
SPEC = get_family(FAMILY)
TINY_MODEL = {
    "features": "mae,fbank",
    "fusion_dim": "32",
    "layers": "1",
    "heads": "2",
    "feedforward_dim": "64",
    "segment_length": "32",
    "stride": "32",
    "classifier_hidden": "32,16",
    "batch_size": "8",
    "lr": "2e-3",
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("expression") / "synthetic"
    config = SPEC.data.synth_config(
        videos=20, frames=(200, 300), episode_frames=30.0, features=("mae", "fbank"), class_prior=(1.0,) * 8
    )
    SPEC.data.synthesize(config, out)
    return out


@pytest.fixture(scope="module")
def split(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("expression-split") / "split"
    folds = split_cohort(dataset, 5, 0, out, family=FAMILY)
    assert (
        folds == out / SPEC.data.partitions.file and is_split(out, FAMILY) and not is_split(dataset, FAMILY)
    )
    return out


@pytest.fixture(scope="module")
def model_path(split: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the pipeline's train step: build_config from its parameters, then the family's train
    config = build_config(FAMILY, variant="lstm", overrides=json.dumps(TINY_MODEL), seed=0, epochs=10)
    out = tmp_path_factory.mktemp("expression-run")
    return SPEC.train.train(config, split, NullTracker(), out_dir=out, holdout=0, device="cpu", resume=False)


def test_clean_synthetic_data_passes_validation(split: Path, tmp_path: Path) -> None:
    report = validate_cohort(split, docs_dir=tmp_path / "docs", family=FAMILY)
    assert report.success, [f.describe() for f in report.failures]
    assert report.checked >= 45 and report.docs_index.is_file()
    summary = SPEC.data.summarize(split)
    assert summary["videos"] == 20 and set(summary["folds"]) == {0, 1, 2, 3, 4}
    assert "20 videos" in SPEC.data.format_summary(summary)


def test_corrupted_data_fails_validation_naming_each_problem(split: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(split, broken)
    videos = sorted(p.stem for p in (broken / "annotations").glob("*.txt"))
    mae = broken / "features" / "mae" / f"{videos[0]}.npy"
    values = np.load(mae)
    values[3, 5] = np.nan
    np.save(mae, values)
    np.save(broken / "features" / "fbank" / f"{videos[1]}.npy", np.zeros((10, 79), dtype=np.float32))
    annotation = broken / "annotations" / f"{videos[2]}.txt"
    annotation.write_text("\n".join([*annotation.read_text().splitlines()[:-5], "9"]) + "\n")
    report = validate_cohort(broken, docs_dir=None, family=FAMILY)
    assert not report.success
    described = "\n".join(f.describe() for f in report.failures)
    assert "features.n_nonfinite: features are finite" in described and f"mae {videos[0]}" in described
    assert "a feature file has its feature's width" in described and f"fbank {videos[1]}" in described
    assert "labels are integers in -1..7" in described and videos[2] in described
    assert "one label per video frame" in described


def test_train_and_evaluate_through_the_family_contract(
    model_path: Path, split: Path, tmp_path: Path
) -> None:
    trained = SPEC.train.load(model_path)
    assert trained.config.variant == "lstm" and trained.config.features == ("mae", "fbank")
    scores = evaluate_model(FAMILY, model_path, split, 0, tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text()) == scores
    # the quality gate's key: mean F1 over 8 classes, clearly above guessing (~1/8)
    assert scores["f1"] > 0.3 > scores["random_f1"]
    assert len([key for key in scores if key.startswith("f1_")]) == 8


def test_served_by_the_generic_predictor(model_path: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_uri(FAMILY, model_path, load_settings({"AFFECTOPS_HOME": str(tmp_path)}))
    request = SPEC.serve.example(predictor.trained.config)
    outputs = predictor.predict(request)
    frames = len(request["mae"])
    assert outputs["probabilities"].shape == (frames, 8) and outputs["labels"].shape == (frames,)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(outputs["labels"], outputs["probabilities"].argmax(axis=1))
    for spec in predictor.schema.outputs:
        spec.check(outputs[spec.name])
    with pytest.raises(ValueError, match="missing input tensor"):
        predictor.predict({"mae": request["mae"]})
    with pytest.raises(ValueError, match="same number of frames"):
        predictor.predict({**request, "fbank": request["fbank"][:-1]})


def test_the_pipeline_still_compiles_without_knowing_the_family(tmp_path: Path) -> None:
    from pipelines.training import compile_all

    for path in compile_all(tmp_path):
        assert "expression" not in path.read_text()


def test_served_by_the_kserve_runtime_over_v1_and_v2(model_path: Path, tmp_path: Path) -> None:
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferInput, InferRequest

    from serving.kserve_model import FamilyModel

    model = FamilyModel("expr", FAMILY, str(model_path), load_settings({"AFFECTOPS_HOME": str(tmp_path)}))
    assert model.load()
    tensors = SPEC.serve.example(model.predictor.trained.config, frames=40)
    expected = model.predictor.predict(tensors)
    body = {"instances": [{k: v.tolist() for k, v in tensors.items()}], "metadata": {"video_id": "v1"}}
    (prediction,) = asyncio.run(model(body))[0]["predictions"]
    np.testing.assert_allclose(prediction["probabilities"], expected["probabilities"], atol=1e-6)
    assert prediction["labels"] == expected["labels"].tolist()
    inputs = []
    for name, value in tensors.items():
        infer_input = InferInput(name, list(value.shape), "FP32")
        infer_input.set_data_from_numpy(value, binary_data=False)
        inputs.append(infer_input)
    response = asyncio.run(model(InferRequest(model_name="expr", infer_inputs=inputs, request_id="r2")))[0]
    outputs = {output.name: output for output in response.outputs}
    assert outputs["probabilities"].shape == [40, 8] and outputs["labels"].shape == [40]
    with pytest.raises(InvalidInput, match="fbank"):
        asyncio.run(model({"instances": [{**body["instances"][0], "fbank": [[1.0, 2.0]]}]}))
