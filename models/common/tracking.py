"""The tracker interface training reports through, and its plain local implementation.

Training code only sees ``Tracker``; the pipelines layer supplies an MLflow implementation, so
``models`` never imports mlflow (see ARCHITECTURE.md, the import rule).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol


class Tracker(Protocol):
    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_artifact(self, path: Path, name: str | None = None) -> None: ...


class LocalTracker:
    """Writes ``params.json``, ``metrics.jsonl`` (one line per call) and ``artifacts/`` under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "params.json"
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged.update({key: _plain(value) for key, value in params.items()})
        path.write_text(json.dumps(merged, indent=2, sort_keys=True))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        record = {"step": step, **{key: float(value) for key, value in metrics.items()}}
        with (self.root / "metrics.jsonl").open("a") as out:
            out.write(json.dumps(record) + "\n")

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        target = self.root / "artifacts" / (name or Path(path).name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(path).is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)

    def metrics(self) -> list[dict[str, float]]:
        path = self.root / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class NullTracker:
    """For callers that want no record (e.g. the inner runs of a benchmark)."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        pass


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
