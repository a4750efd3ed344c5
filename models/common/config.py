"""Typed overrides of a family's config dataclass from ``key=value`` strings (CLI, pipeline params)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

C = TypeVar("C")


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["epochs=2", "lr=1e-3"]`` -> ``{"epochs": "2", "lr": "1e-3"}``; names the malformed item."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not of the form key=value")
        out[key.strip()] = value.strip()
    return out


def apply_overrides(config: C, overrides: Mapping[str, Any]) -> C:
    """A copy of the dataclass ``config`` with fields replaced, strings converted to each field's type.

    Unknown fields and unconvertible values raise ValueError naming the field; the dataclass's
    own ``__post_init__`` then validates the values.
    """
    hints = typing.get_type_hints(type(config))
    fields = {field.name for field in dataclasses.fields(config) if field.init}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown config field(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    changes = {name: _convert(name, value, hints[name]) for name, value in overrides.items()}
    return dataclasses.replace(config, **changes)


def _convert(name: str, value: Any, hint: Any) -> Any:
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    try:
        if origin is tuple:
            parts = [part for part in value.replace(" ", "").split(",") if part]
            return tuple(args[0](part) for part in parts)
        if type(None) in args:  # Optional[X]
            if value.lower() in ("none", "null", ""):
                return None
            return _convert(name, value, next(arg for arg in args if arg is not type(None)))
        if hint is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return hint(value)
    except (TypeError, ValueError):
        raise ValueError(f"config field {name}: cannot read {value!r} as {hint}") from None


def plain(config: Any) -> dict[str, Any]:
    """A config dataclass as plain types (tuples as lists): what artifacts and fingerprints store."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
