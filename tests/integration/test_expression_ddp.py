"""Expression training under torchrun: two CPU processes on gloo train the same weights as one process
with the same (global) batch size, for both temporal encoders, with ragged steps (a rank with fewer
segments or none at some step)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models import get_family

pytestmark = pytest.mark.integration

SPEC = get_family("expression")
TINY = {
    "features": "mae,fbank",
    "fusion_dim": "16",
    "layers": "1",
    "heads": "2",
    "feedforward_dim": "32",
    "segment_length": "16",
    "stride": "16",
    "classifier_hidden": "16,8",
    "epochs": "2",
    "lr": "1e-3",
    "dropout": "0",  # the two set-ups draw different dropout masks; without dropout R-Drop's KL is 0
    "batch_size": "4",  # the global batch: each of two ranks takes 2 of every step's 4
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 40-100 frames in 16-frame segments: videos of 3 to 7 segments, so within a group of videos the
    # ranks' shares end at different steps, and the segment count leaves a ragged last batch
    root = tmp_path_factory.mktemp("expression-ddp") / "data"
    config = SPEC.data.synth_config(
        videos=10, frames=(40, 100), episode_frames=15.0, features=("mae", "fbank"), class_prior=(1.0,) * 8
    )
    SPEC.data.synthesize(config, root)
    SPEC.data.partitions.split(root, 5, 0)
    return root


def _train(command: list[str], data: Path, out: Path, variant: str, home: Path) -> str:
    args = ["train", "--family", "expression", "--data", str(data), "--variant", variant]
    args += ["--holdout-fold", "0", "--device", "cpu", "--out", str(out)]
    args += [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
    env = {**os.environ, "AFFECTOPS_HOME": str(home), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


@pytest.mark.parametrize("variant", ["lstm", "transformer"])
def test_two_gloo_processes_match_one_process(variant: str, data: Path, tmp_path: Path, free_port) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _train([sys.executable, "-m", "affectops"], data, one, variant, tmp_path / "home")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    torchrun += ["--master-port", str(free_port()), "--module", "affectops"]
    log = _train(torchrun, data, two, variant, tmp_path / "home")
    assert "epoch 2/2" in log  # progress is shown

    single = torch.load(one / "model.pt", weights_only=True)["state_dict"]
    ddp = torch.load(two / "model.pt", weights_only=True)["state_dict"]
    assert single.keys() == ddp.keys()
    for key in single:
        a, b = ddp[key], single[key]
        if key.endswith("self_attn.in_proj_bias"):
            # the key bias's gradient is 0 in exact arithmetic (softmax ignores a shift shared by all
            # keys): Adam turns its float noise into lr-sized steps, in either set-up; query and value
            # biases must agree
            third = len(a) // 3
            a, b = torch.cat([a[:third], a[2 * third :]]), torch.cat([b[:third], b[2 * third :]])
        # the same frames per step; only float summation order differs between the set-ups
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)
    assert '"world_size": 2' in (two / "tracking" / "params.json").read_text()

    # the losses logged are the step's, not one rank's share
    def epoch_losses(run: Path) -> list[float]:
        records = map(json.loads, (run / "tracking" / "metrics.jsonl").read_text().splitlines())
        return [record["loss"] for record in records if "loss" in record]

    assert epoch_losses(two) == pytest.approx(epoch_losses(one), rel=1e-4)
