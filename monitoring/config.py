"""The monitoring config: the platform's estimation defaults with a family's choices over them.

``monitoring/configs/monitoring.yaml`` holds how drift and fairness are estimated (sample sizes,
permutations, bootstrap), the same for every family. A family's monitoring.yaml (its spec's
``monitor.config``) says what is monitored and gated for its model: which record columns are its
age, age estimate (the age probe), prediction and score, the scalar columns drift compares, its age
groups (none: no per-group scopes), the input summary compared as features, the labels and
sensitive features fairness joins, and its thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULTS = Path(__file__).parent / "configs" / "monitoring.yaml"
SECTIONS = ("age_groups", "columns", "drift", "fairness", "thresholds")


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys over it, mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read the monitoring config ({err})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: a monitoring config is a mapping, got {type(loaded).__name__}")
    return loaded


def load_config(family: str | None = None, path: Path | None = None) -> dict[str, Any]:
    """The monitoring config of ``family`` (its spec's ``monitor.config`` over the defaults), or of the
    file ``path`` over the defaults. Raises ValueError naming a missing section or an unmonitored family."""
    config = _read(DEFAULTS)
    source: Path | str = DEFAULTS
    if family is not None:
        from models import get_family

        spec = get_family(family)
        if spec.monitor is None:
            raise ValueError(f"family: {family!r} is not monitored (its spec has no monitor part)")
        source = spec.monitor.config
        config = merged(config, _read(spec.monitor.config))
    if path is not None:
        source = path
        config = merged(config, _read(path))
    config.setdefault("age_groups", {})
    for key in SECTIONS:
        if not isinstance(config.get(key), Mapping):
            raise ValueError(f"{source}: missing section {key!r}")
    return config


def monitored_families() -> list[str]:
    """Every monitored family (its spec has a monitor part), in registry order."""
    from models import FAMILIES

    return [name for name, spec in FAMILIES.items() if spec.monitor is not None]
