"""What the shared end-to-end runs (conftest.py) hand to tests, and the data and model they run on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, load_settings


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
