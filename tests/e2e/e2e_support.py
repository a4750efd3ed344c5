"""What the shared end-to-end runs (conftest.py) hand to tests, and the data and model they run on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config_support import as_overrides

from core.settings import Settings, load_settings
from models import get_family


@dataclass(frozen=True)
class DemoRun:
    """``affectops demo --size tiny``, finished with exit code 0, in a fresh AFFECTOPS_HOME: its output
    and its registry."""

    home: Path
    stdout: str

    @property
    def settings(self) -> Settings:
        return load_settings({"AFFECTOPS_HOME": str(self.home)})

    @property
    def run_dir(self) -> Path:
        """The demo's kfp.local run (``<home>/kfp-local/<run>``)."""
        (run_dir,) = (self.home / "kfp-local").iterdir()
        return run_dir


@dataclass(frozen=True)
class PipelineRun:
    """One ``affectops pipeline run --local``: the dataset it was given, its run directory and the
    settings of its registry (MLflow on SQLite under ``settings.home``)."""

    dataset: Path
    run_dir: Path
    settings: Settings


# The expression family's shared data: videos of world 0 with ~17 expressions each (a video's class mix
# is not one or two of them); 60 videos, so the held-out fold (~12 videos, the monitoring reference)
# tells two traffic windows apart (test_expression_monitoring.py)
EXPRESSION_DATA: dict[str, Any] = {
    "videos": 60,
    "frames": (200, 300),
    "episode_frames": 15.0,
    "features": ("mae", "fbank"),
    "class_prior": (1.0,) * 8,
    "seed": 0,
    "world_seed": 0,
}


EXPRESSION_MODEL = as_overrides(get_family("expression").train.tiny())
