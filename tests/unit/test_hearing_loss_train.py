"""The training loop: stages, tracking, checkpoints and resume, on the tiny split cohort."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models import get_family
from models.common.folds import select_folds
from models.common.tracking import LocalTracker
from models.common.training import MODEL_FILE, STATE_FILE
from models.hearing_loss import checkpoint
from models.hearing_loss.data import AgeScaler, load_split, shard
from models.hearing_loss.model import HearingLossConfig
from models.hearing_loss.train import train

pytestmark = pytest.mark.unit
TINY = get_family("hearing_loss").train.tiny()


def tiny(variant: str, **overrides) -> HearingLossConfig:
    """The spec's tiny config (STYLE 6) with two fine-tuning epochs in batches of 16: resume and
    checkpoints have a second epoch and several steps to cover."""
    return replace(TINY, **{"variant": variant, "epochs": 2, "batch_size": 16, **overrides})


class InterruptAt(LocalTracker):
    """A tracker whose run is cut off (like a pre-empted node) when it logs ``step`` of ``stage``."""

    def __init__(self, root: Path, stage: str, step: int) -> None:
        super().__init__(root)
        self.stage, self.step = stage, step

    def log_metrics(self, metrics, step=None) -> None:
        if step == self.step and any(key.startswith(self.stage) for key in metrics):
            raise KeyboardInterrupt("node pre-empted")
        super().log_metrics(metrics, step)


def test_training_writes_a_loadable_model_and_tracks_every_epoch(tiny_split: Path, tmp_path: Path) -> None:
    config = tiny("marlin_vm_abm")
    tracker = LocalTracker(tmp_path / "tracking")
    path = train(config, tiny_split, tracker, out_dir=tmp_path / "run", holdout=0, device="cpu")

    assert path == tmp_path / "run" / MODEL_FILE
    trained = checkpoint.load(path)
    assert trained.config == config and trained.holdout == 0 and trained.threshold == 0.5
    frame = load_split(tiny_split)
    train_ages = frame.loc[frame["fold"] != 0, "age"].to_numpy()
    assert trained.age_scaler.mean == pytest.approx(train_ages.mean())  # paper §4.3: z-scored age
    metrics = tracker.metrics()
    vm = [m for m in metrics if "vm_triplet_loss" in m]
    finetune = [m for m in metrics if "finetune_loss" in m]
    assert [m["step"] for m in vm] == [1] and [m["step"] for m in finetune] == [1, 2]
    for record in finetune:  # paper §3.2.3: L = L_B + L_M
        assert record["finetune_loss"] == pytest.approx(
            record["finetune_bce"] + record["finetune_mse"], rel=1e-5
        )
    params = (tmp_path / "tracking" / "params.json").read_text()
    assert '"holdout_fold": 0' in params and f'"train_segments": {int((frame["fold"] != 0).sum())}' in params
    assert (tmp_path / "tracking" / "artifacts" / MODEL_FILE).exists()


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_split: Path, tmp_path: Path) -> None:
    config = tiny("marlin_vm", epochs=3, vm_epochs=2)
    whole = train(config, tiny_split, LocalTracker(tmp_path / "t1"), out_dir=tmp_path / "whole", device="cpu")
    for stage, step in (("vm", 2), ("finetune", 2)):  # cut off in each stage, then resume
        out = tmp_path / f"cut-{stage}"
        with pytest.raises(KeyboardInterrupt):
            train(
                config,
                tiny_split,
                InterruptAt(tmp_path / f"t-{stage}", stage, step),
                out_dir=out,
                device="cpu",
            )
        assert (out / STATE_FILE).exists() and not (out / MODEL_FILE).exists()
        resumed = train(config, tiny_split, LocalTracker(tmp_path / f"t-{stage}"), out_dir=out, device="cpu")
        expected, got = torch.load(whole)["state_dict"], torch.load(resumed)["state_dict"]
        assert expected.keys() == got.keys()
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=f"{stage}: {key}")


def test_resume_refuses_a_checkpoint_of_another_config(tiny_split: Path, tmp_path: Path) -> None:
    config = tiny("marlin", epochs=1)
    train(config, tiny_split, LocalTracker(tmp_path / "t"), out_dir=tmp_path / "run", device="cpu")
    with pytest.raises(ValueError, match="another config or holdout"):
        train(
            replace(config, lr=1e-3),
            tiny_split,
            LocalTracker(tmp_path / "t"),
            out_dir=tmp_path / "run",
            device="cpu",
        )
    # --no-resume starts over in the same directory
    train(
        replace(config, lr=1e-3),
        tiny_split,
        LocalTracker(tmp_path / "t"),
        out_dir=tmp_path / "run",
        device="cpu",
        resume=False,
    )


def test_training_needs_a_split_cohort(tiny_cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="affectops data split"):
        train(tiny("marlin"), tiny_cohort, LocalTracker(tmp_path), out_dir=tmp_path / "run", device="cpu")


def test_unknown_holdout_fold_is_named(tiny_split: Path) -> None:
    with pytest.raises(ValueError, match="holdout fold 7 is not among"):
        select_folds(load_split(tiny_split), 7, train=True)


def test_folds_partition_the_segments_by_session(tiny_split: Path) -> None:
    frame = load_split(tiny_split)
    test = select_folds(frame, 2, train=False)
    rest = select_folds(frame, 2, train=True)
    assert len(test) + len(rest) == len(frame)
    assert not set(test["session_id"]) & set(rest["session_id"])  # subject-independent (paper §4.2)
    assert select_folds(frame, None, train=False).empty and len(select_folds(frame, None, train=True)) == len(
        frame
    )


def test_age_scaler_z_scores_and_inverts() -> None:
    scaler = AgeScaler.fit(np.array([20, 40, 60]))
    np.testing.assert_allclose(
        scaler.transform(np.array([20, 40, 60])), [-1.2247449, 0, 1.2247449], rtol=1e-6
    )
    np.testing.assert_allclose(scaler.inverse(scaler.transform(np.array([33.0]))), [33.0], rtol=1e-6)
    assert AgeScaler.fit(np.array([50, 50])).std == 1.0  # one age: no division by zero


@pytest.mark.parametrize("n", [10, 11, 12])
def test_shard_gives_every_rank_the_same_number_of_steps(n: int) -> None:
    order = np.arange(100, 100 + n)
    parts = [shard(order, rank, 3) for rank in range(3)]
    assert len({len(part) for part in parts}) == 1
    assert set(np.concatenate(parts)) == set(order)
    np.testing.assert_array_equal(shard(order, 0, 1), order)
