"""The expression family through the MLflow registry (SQLite under tmp_path): logged with its serving
signature, its monitoring reference and plots, served as a pyfunc, promoted by its own gate."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models import get_family
from models.common.tracking import NullTracker
from models.expression.model import ExpressionConfig
from models.expression.schema import MAX_FRAMES

pytestmark = pytest.mark.integration

FAMILY = "expression"
SPEC = get_family(FAMILY)
TINY = get_family("expression").train.tiny()
# one epoch at a vanishing learning rate: an untrained model, near guessing
UNTRAINED = replace(TINY, epochs=1, lr=1e-9)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("expression") / "split"
    synth = SPEC.data.synth_config(
        videos=20, frames=(200, 300), episode_frames=30.0, features=("mae", "fbank"), class_prior=(1.0,) * 8
    )
    SPEC.data.synthesize(synth, root)
    SPEC.data.partitions.split(root, 5, 0)
    return root


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory):
    def train(config: ExpressionConfig) -> tuple[Path, dict]:
        out = tmp_path_factory.mktemp("expression-model")
        path = SPEC.train.train(
            config, data, NullTracker(), out_dir=out, holdout=0, device="cpu", resume=False
        )
        return path, SPEC.evaluate.evaluate(SPEC.train.load(path), data, 0)

    return train


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from core.settings import load_settings

    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return load_settings()


def test_held_out_requests_are_the_held_out_videos_as_served(data: Path) -> None:
    folds = SPEC.data.load(data)
    held_out = folds[folds["fold"] == 0].set_index("video_id")
    requests = list(SPEC.monitor.reference_requests(data, 0))
    assert [r.metadata["video_id"] for r in requests] == list(held_out.index)
    for request in requests:
        video = held_out.loc[request.metadata["video_id"]]
        assert request.request_id == request.metadata["video_id"]  # short videos: one request each
        assert request.parameters()["subject_pseudonym"] == video["subject_id"]
        assert {name: t.shape for name, t in request.tensors.items()} == {
            "mae": (video["n_frames"], 768),
            "fbank": (video["n_frames"], 80),
        }
        assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in request.tensors.values())
    with pytest.raises(ValueError, match="holdout fold 7 is not among"):
        SPEC.monitor.reference_requests(data, 7)
    assert held_out["n_frames"].max() < MAX_FRAMES


def test_register_serve_and_promote_through_the_family_gate(settings, trained, data: Path, tmp_path) -> None:
    import mlflow

    from components.promotion import promote
    from components.reference import reference_frame
    from components.registry import CHALLENGER, CHAMPION, log_and_register
    from core.registry import REFERENCE_ARTIFACT

    path, report = trained(TINY)
    assert (
        report["f1"] >= SPEC.evaluate.gates["quality"]["f1"]
    )  # the tiny model learns (as in the unit tests)
    reference = reference_frame(FAMILY, path, data, 0)
    reference_file = tmp_path / "reference.parquet"
    reference.to_parquet(reference_file)
    plots = SPEC.evaluate.plots(report, reference, tmp_path / "plots")
    assert [p.name for p in plots] == ["f1_by_class.png", "predicted_classes.png"]
    first = log_and_register(
        FAMILY,
        path,
        report,
        run_name="v1",
        artifacts={REFERENCE_ARTIFACT: reference_file, "plots": tmp_path / "plots"},
        settings=settings,
    )
    assert (first.version, first.aliases) == (1, (CHALLENGER,))

    # the reference holds each held-out request's predicted class shares, summing to one
    shares = reference.filter(like="labels_share_").fillna(0.0)
    assert len(reference) == 4 and shares.shape[1] >= 2
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-6)
    assert {"mae_mean", "fbank_mean", "mae_frames"} <= set(reference)
    assert "probabilities" not in reference and "labels" not in reference  # per-frame arrays are not kept

    uri = f"models:/{FAMILY}@{CHALLENGER}"
    meta = mlflow.models.get_model_info(uri)
    inputs = [(t["name"], t["tensor-spec"]["shape"]) for t in meta.signature.inputs.to_dict()]
    outputs = [(t["name"], t["tensor-spec"]["shape"]) for t in meta.signature.outputs.to_dict()]
    assert inputs == [("mae", (-1, 768)), ("fbank", (-1, 80))]
    assert outputs == [("probabilities", (-1, 8)), ("labels", (-1,))]
    example = SPEC.serve.example(TINY, frames=60)
    out = mlflow.pyfunc.load_model(uri).predict(example)
    assert out["probabilities"].shape == (60, 8) and out["probabilities"].dtype == np.float32
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out["labels"], out["probabilities"].argmax(axis=1))
    with pytest.raises(Exception, match="same number of frames"):
        mlflow.pyfunc.load_model(uri).predict({**example, "fbank": example["fbank"][:-1]})

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    top = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"evaluation.json", "plots", "reference"} <= top
    logged = json.loads(
        Path(client.download_artifacts(first.run_id, "evaluation.json", str(tmp_path))).read_text()
    )
    assert logged["f1"] == pytest.approx(report["f1"])

    passed = promote(FAMILY, 1, SPEC.evaluate.gates, settings=settings)
    assert passed.passed and passed.promoted
    assert int(client.get_model_version_by_alias(FAMILY, CHAMPION).version) == 1

    weak_path, weak = trained(UNTRAINED)
    assert (
        weak["f1"] < SPEC.evaluate.gates["quality"]["f1"]
    )  # precondition: an untrained model is near guessing
    second = log_and_register(FAMILY, weak_path, weak, run_name="v2", settings=settings)
    failed = promote(FAMILY, second.version, SPEC.evaluate.gates, settings=settings)
    assert not failed.passed and not failed.promoted
    assert failed.reasons == [
        f"quality: f1 = {weak['f1']:.4f} is below the floor 0.3",
        f"quality: f1 = {weak['f1']:.4f} is more than 0.02 below the champion's {report['f1']:.4f}",
    ]
    tags = client.get_model_version(FAMILY, str(second.version)).tags
    assert tags["gate.passed"] == "false" and tags["gate.quality.passed"] == "false"
    assert tags["gate.compared_with"] == "version 1"
    assert int(client.get_model_version_by_alias(FAMILY, CHAMPION).version) == 1
