"""A family's config as what a command takes: the pipeline's ``overrides`` and ``--set`` flags, so a test
states its model as the spec's tiny config (STYLE §6) rather than a pasted copy of its sizes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def as_overrides(config: Any) -> dict[str, Any]:
    """The fields of a family config that differ from its defaults, as pipeline ``overrides`` (tuples
    comma-joined, as the CLI and pipeline parameters write them)."""
    default = type(config)()
    out = {}
    for field in fields(config):
        value = getattr(config, field.name)
        if value != getattr(default, field.name):
            out[field.name] = ",".join(map(str, value)) if isinstance(value, tuple) else value
    return out


def as_set_flags(config: Any) -> list[str]:
    """``as_overrides`` as the CLI's repeated ``--set FIELD=VALUE``."""
    return [arg for name, value in as_overrides(config).items() for arg in ("--set", f"{name}={value}")]
