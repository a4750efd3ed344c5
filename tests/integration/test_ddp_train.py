"""DDP under torchrun: two CPU processes on gloo train the same weights as one process."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from config_support import as_set_flags

from models import get_family
from models.hearing_loss.data import load_split

pytestmark = pytest.mark.integration


def test_two_gloo_processes_match_one_process(tiny_split: Path, tmp_path: Path) -> None:
    frame = load_split(tiny_split)
    # a fold whose training rows split evenly into 2 batches of 2 ranks: every optimizer step then
    # averages the same segments in both set-ups (no wrap-around padding, no ragged last batch)
    fold = next(k for k in range(5) if (frame["fold"] != k).sum() % 4 == 0)
    half = int((frame["fold"] != fold).sum()) // 2
    tiny = get_family("hearing_loss").train.tiny()
    settings = as_set_flags(replace(tiny, dropout=0.0, epochs=2, vm_epochs=2, batch_size=half))
    common = ["train", "--data", str(tiny_split), "--variant", "marlin_vm", "--holdout-fold", str(fold)]
    common += ["--device", "cpu", *settings]
    env = {**os.environ, "AFFECTOPS_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}

    single = subprocess.run(
        [sys.executable, "-m", "affectops", *common, "--out", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29561",
    ]
    ddp = subprocess.run(
        [*torchrun, "--module", "affectops", *common, "--out", str(tmp_path / "two")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert "vm epoch 2/2" in ddp.stderr and "finetune epoch 2/2" in ddp.stderr  # progress is shown

    one = torch.load(tmp_path / "one" / "model.pt", weights_only=True)["state_dict"]
    two = torch.load(tmp_path / "two" / "model.pt", weights_only=True)["state_dict"]
    for key in one:
        # same samples per step; only float summation order differs between the set-ups
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    params = (tmp_path / "two" / "tracking" / "params.json").read_text()
    assert '"world_size": 2' in params
