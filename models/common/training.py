"""What every family's trainer shares: the runtime around a run, the per-rank batch, and the
resumable state after each epoch."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.common.config import plain
from models.common.distributed import Runtime, setup, teardown
from models.common.tracking import Tracker

log = logging.getLogger(__name__)

STATE_FILE = "last.pt"  # the state after the last finished epoch, beside the run's outputs
MODEL_FILE = "model.pt"  # the trained model's artifact


def per_rank_batch(batch_size: int, runtime: Runtime) -> int:
    """Each rank's share of a step: ``batch_size`` is the global batch under torchrun."""
    if batch_size % runtime.world:
        raise ValueError(f"batch_size {batch_size} must divide by the {runtime.world} processes")
    return batch_size // runtime.world


def fingerprint(config: Any, holdout: int | str | None) -> dict[str, Any]:
    """What makes two training runs the same run: their config and the partition they hold out."""
    return {"config": plain(config), "holdout": holdout}


class ResumableState:
    """``<out_dir>/last.pt``: the model, optimizer and progress after an epoch, for one fingerprint.

    A rerun with the same fingerprint resumes; another fingerprint is refused, so a resumed run is
    never a mix of two configs.
    """

    def __init__(self, out_dir: Path, fingerprint: dict[str, Any], device: torch.device) -> None:
        self.path = Path(out_dir) / STATE_FILE
        self.fingerprint = fingerprint
        self.device = device

    def save(self, model: nn.Module, optimizer: torch.optim.Optimizer, **progress: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "fingerprint": self.fingerprint,
            **progress,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
        }
        tmp = self.path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        tmp.replace(self.path)  # atomic: an interruption leaves the previous epoch's state

    def load(self, model: nn.Module) -> dict[str, Any] | None:
        """The saved state with its weights put into ``model``; None when there is none."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location=self.device, weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"{self.path} was written by a run with another config or holdout; "
                "use a new output directory or --no-resume"
            )
        model.load_state_dict(state["model"])
        return state


class FamilyTrainer(ABC):
    """A family's training run: what every trainer holds, set up before the family's own state."""

    def __init__(
        self, config: Any, data: Path, tracker: Tracker, out_dir: Path, holdout: Any, runtime: Runtime
    ) -> None:
        self.config, self.data, self.tracker, self.out_dir = config, Path(data), tracker, Path(out_dir)
        self.holdout, self.runtime = holdout, runtime
        self.per_rank_batch = per_rank_batch(config.batch_size, runtime)
        self.state = ResumableState(self.out_dir, fingerprint(config, holdout), runtime.device)
        self.prepare()

    @abstractmethod
    def prepare(self) -> None:
        """The family's own state: its training rows, readers and model."""

    @abstractmethod
    def run(self, resume: bool) -> Path:
        """Train (resuming from ``last.pt`` when asked and present); the model artifact's path."""


def train_function(trainer: type[FamilyTrainer]) -> Callable[..., Path]:
    """The family's ``train`` (the contract's signature) running ``trainer`` in its runtime."""

    def train(
        config: Any,
        data: Path,
        tracker: Tracker,
        *,
        out_dir: Path,
        holdout: Any = None,
        device: str = "auto",
        resume: bool = True,
    ) -> Path:
        """Train without the ``holdout`` partition (None: on all of them); the model artifact's path.

        ``device``: auto, cpu or cuda; under torchrun every process joins the process group.
        """
        runtime = setup(device)
        try:
            return trainer(config, data, tracker, out_dir, holdout, runtime).run(resume)
        finally:
            teardown(runtime)

    return train
