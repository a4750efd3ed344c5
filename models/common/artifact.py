"""A family's model artifact on disk: one torch file of plain types, written atomically, read with
``weights_only=True`` and checked to be this family's and this format's before anything is built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from models.common.config import plain


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


def module_payload(
    family: str, fmt: int, model: torch.nn.Module, config: Any, **extra: Any
) -> dict[str, Any]:
    """An artifact's payload: the constructor config (plain types), the weights on the CPU, ``extra``."""
    return {
        "format": fmt,
        "family": family,
        "config": plain(config),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        **extra,
    }


def load_module(
    payload: Mapping[str, Any], build: Callable[[Any], torch.nn.Module], config_type: type, device
):
    """The model an artifact's payload describes, rebuilt and ready for inference (eval mode)."""
    model = build(config_type(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()
