"""A family's model artifact on disk: one torch file of plain types, written atomically, read with
``weights_only=True`` and checked to be this family's and this format's before anything is built."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


def write(path: Path, payload: Mapping[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(dict(payload), tmp)
    tmp.replace(path)  # atomic: a reader never sees half a model
    return path


def read(path: Path, family: str, fmt: int, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of ``family``'s artifact at ``path``; FileNotFoundError / ValueError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model artifact at {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises several types for a truncated or foreign file
        raise ValueError(f"{path} is not a readable {family} model artifact: {err}") from err
    if not isinstance(payload, dict) or payload.get("family") != family:
        raise ValueError(f"{path} is not a {family} model artifact")
    if payload.get("format") != fmt:
        raise ValueError(f"{path} has artifact format {payload.get('format')}, this code reads {fmt}")
    return payload
