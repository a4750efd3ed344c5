"""Training, evaluation and cross-validation of the expression family on a tiny synthetic dataset."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models import get_family
from models.common.tracking import LocalTracker, NullTracker
from models.expression import checkpoint
from models.expression.crossval import cross_validate
from models.expression.data import load_split
from models.expression.evaluate import evaluate, metrics
from models.expression.split import split
from models.expression.synth import SynthConfig, synthesize
from models.expression.train import train

pytestmark = pytest.mark.unit

DATA = SynthConfig(
    videos=20, frames=(200, 300), episode_frames=30.0, features=("mae", "fbank"), class_prior=(1.0,) * 8
)
TINY = get_family("expression").train.tiny()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("expr") / "split"
    synthesize(DATA, root)
    split(root, 5, 0)
    return root


@pytest.mark.parametrize("variant", ["transformer", "lstm"])
def test_tiny_training_beats_chance(data: Path, tmp_path: Path, variant: str) -> None:
    tracker = LocalTracker(tmp_path / "tracking")
    path = train(replace(TINY, variant=variant), data, tracker, out_dir=tmp_path, holdout=0, device="cpu")
    scores = evaluate(checkpoint.load(path), data)
    # chance: guessing uniformly among 8 classes gives mean F1 ~ 1/8 (the report's random_f1)
    assert scores["random_f1"] < 0.14
    assert scores["f1"] > 0.35, scores
    assert set(scores) >= {"f1", "f1_neutral", "f1_other", "accuracy", "frames", "videos"}
    epochs = [m for m in tracker.metrics() if "loss" in m]
    assert [m["step"] for m in epochs] == list(range(1, TINY.epochs + 1))
    assert epochs[-1]["loss"] < epochs[0]["loss"] and all(m["frames_per_s"] > 0 for m in epochs)
    # the z-scoring statistics travel with the weights
    assert checkpoint.load(path).model.feature_std.min() > 0


def test_resume_continues_from_the_last_epoch(data: Path, tmp_path: Path) -> None:
    config = replace(TINY, variant="lstm", epochs=2)
    straight = train(config, data, NullTracker(), out_dir=tmp_path / "straight", holdout=0, device="cpu")
    # an interrupted run: one epoch done, then the same config asks for two
    train(
        replace(config, epochs=1),
        data,
        NullTracker(),
        out_dir=tmp_path / "resumed",
        holdout=0,
        device="cpu",
    )
    state = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    state["fingerprint"]["config"]["epochs"] = (
        2  # the fingerprint of the 2-epoch run: the state is its epoch 1
    )
    torch.save(state, tmp_path / "resumed" / "last.pt")
    tracker = LocalTracker(tmp_path / "tracking")
    resumed = train(config, data, tracker, out_dir=tmp_path / "resumed", holdout=0, device="cpu")
    assert [m["step"] for m in tracker.metrics() if "loss" in m] == [2]
    a, b = checkpoint.load(straight).model.state_dict(), checkpoint.load(resumed).model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    with pytest.raises(ValueError, match="another config or holdout"):
        train(
            replace(config, lr=1e-3),
            data,
            NullTracker(),
            out_dir=tmp_path / "resumed",
            holdout=0,
            device="cpu",
        )


def test_evaluate_refuses_a_training_fold_and_a_foreign_artifact(data: Path, tmp_path: Path) -> None:
    path = train(
        replace(TINY, variant="lstm", epochs=1),
        data,
        NullTracker(),
        out_dir=tmp_path,
        holdout=0,
        device="cpu",
    )
    with pytest.raises(ValueError, match="fold 1 is in this model's training data"):
        evaluate(checkpoint.load(path), data, holdout=1)
    torch.save({"family": "hearing_loss", "format": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a expression model artifact"):
        checkpoint.load(tmp_path / "other.pt")


def test_metrics_are_mean_f1_over_eight_classes_on_valid_frames() -> None:
    labels = np.array([0, 0, 1, 1, 2, 3, 4, 5, 6, 7, -1, -1])
    predictions = np.array([0, 1, 1, 1, 2, 3, 4, 5, 6, 0, 3, 3])
    scores = metrics(labels, predictions)
    # class 0: precision 1/2, recall 1/2 -> 0.5; class 1: 2 of 3 predicted right, recall 1 -> 0.8;
    # class 7: never predicted -> 0; classes 2-6: 1; the -1 frames are ignored
    assert scores["f1_neutral"] == pytest.approx(0.5)
    assert scores["f1_anger"] == pytest.approx(0.8)
    assert scores["f1_other"] == 0.0
    assert scores["f1"] == pytest.approx((0.5 + 0.8 + 5 * 1.0 + 0.0) / 8)
    assert scores["frames"] == 10


def test_cross_validation_predicts_every_frame_once(data: Path, tmp_path: Path) -> None:
    config = replace(TINY, variant="lstm", epochs=1)
    summary, predictions = cross_validate(
        config, data, NullTracker(), out_dir=tmp_path, seeds=(0,), device="cpu"
    )
    videos = load_split(data)
    assert len(predictions) == videos["n_frames"].sum()
    assert not predictions.duplicated(["video_id", "frame"]).any()
    assert summary["folds"] == [0, 1, 2, 3, 4] and 0.0 <= summary["f1_mean"] <= 1.0
    assert {f"f1_fold{k}" for k in range(5)} <= set(summary["per_seed"][0])


def test_training_without_a_split_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "unsplit"
    synthesize(replace(DATA, videos=5, frames=(40, 50)), root)
    with pytest.raises(FileNotFoundError, match="run `affectops data split`"):
        train(TINY, root, NullTracker(), out_dir=tmp_path / "run", device="cpu")
    shutil.rmtree(root)


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused(data: Path, tmp_path: Path) -> None:
    import torch

    from models.common.distributed import Runtime
    from models.expression.train import _Trainer

    two = Runtime(rank=0, world=2, device=torch.device("cpu"))  # checked before any process group is used
    with pytest.raises(ValueError, match="batch_size 3 must divide by the 2 processes"):
        _Trainer(replace(TINY, batch_size=3), data, NullTracker(), tmp_path, 0, two)
