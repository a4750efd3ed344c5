"""Move the ``champion`` alias: gated promotion, forced promotion, rollback, and the history of all three.

Every gate's verdict is a tag on the version (``gate.<name>.passed``, ``gate.<name>.reasons``, ...),
so MLflow shows why a version was or was not promoted. MLflow keeps no history of aliases, so each
move of ``champion`` is also written as a registered-model tag ``champion.event.<n>`` (JSON: version,
previous champion, action, who, when, why); ``history`` and ``rollback`` read those. Nothing is deleted.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from components.gates import GateResult, run_gates
from components.registry import describe_version
from core.registry import CHAMPION, champion_version, client, registered_model
from core.settings import Settings, load_settings

EVENT_PREFIX = "champion.event."


@dataclass(frozen=True)
class Promotion:
    version: int
    promoted: bool
    gates: dict[str, GateResult]
    champion_before: int | None
    forced: bool = False

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.gates.values())

    @property
    def reasons(self) -> list[str]:
        return [f"{name}: {reason}" for name, result in self.gates.items() for reason in result.reasons]


@dataclass(frozen=True)
class ChampionEvent:
    sequence: int
    version: int
    replaced: int | None  # the champion before this event
    fallback: (
        int | None
    )  # where a rollback of this event goes: ``replaced``, or further back after a rollback
    action: str  # "promote", "force", "rollback"
    by: str
    at: str  # ISO 8601, UTC
    reason: str


def current_user() -> str:
    return os.environ.get("AFFECTOPS_USER") or getpass.getuser()


def history(family: str, *, settings: Settings | None = None) -> list[ChampionEvent]:
    """Every move of ``champion``, oldest first."""
    tags = registered_model(family, settings=settings).tags
    events = [
        ChampionEvent(sequence=int(key[len(EVENT_PREFIX) :]), **json.loads(value))
        for key, value in tags.items()
        if key.startswith(EVENT_PREFIX)
    ]
    return sorted(events, key=lambda event: event.sequence)


def _move_champion(
    family: str,
    version: int,
    replaced: int | None,
    fallback: int | None,
    action: str,
    reason: str,
    settings: Settings,
) -> ChampionEvent:
    mlflow_client = client(settings)
    event = ChampionEvent(
        sequence=len(history(family, settings=settings)) + 1,
        version=version,
        replaced=replaced,
        fallback=fallback,
        action=action,
        by=current_user(),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        reason=reason,
    )
    record = {k: v for k, v in event.__dict__.items() if k != "sequence"}
    mlflow_client.set_registered_model_tag(family, f"{EVENT_PREFIX}{event.sequence:05d}", json.dumps(record))
    mlflow_client.set_registered_model_alias(family, CHAMPION, str(version))
    return event


def _evaluation(run_id: str, settings: Settings) -> dict[str, Any]:
    return dict(client(settings).get_run(run_id).data.metrics)


def promote(
    family: str,
    version: int,
    gates: Mapping[str, Mapping[str, float]],
    *,
    force: bool = False,
    reason: str = "",
    settings: Settings | None = None,
) -> Promotion:
    """Run every gate on ``version``'s logged evaluation (against the champion's, for ``*_vs_champion``);
    on a pass ``version`` becomes champion. ``force`` promotes a failing version and needs a ``reason``;
    the gates still run and are recorded. Raises ValueError for an unknown version or a force without why.
    """
    settings = settings or load_settings()
    if force and not reason.strip():
        raise ValueError(
            "a forced promotion needs a reason (--reason TEXT): it is recorded with who and when"
        )
    info = describe_version(family, version, settings=settings)
    before = champion_version(family, settings=settings)
    champion = None
    if before is not None and before != info.version:
        champion = _evaluation(describe_version(family, before, settings=settings).run_id, settings)
    results = run_gates(_evaluation(info.run_id, settings), gates, champion)
    passed = all(result.passed for result in results.values())
    now = datetime.now(UTC).isoformat(timespec="seconds")
    tags = {
        "gate.passed": str(passed).lower(),
        "gate.reasons": "; ".join(f"{n}: {r}" for n, res in results.items() for r in res.reasons),
        "gate.checked_at": now,
        "gate.compared_with": f"version {before}" if champion is not None else "no champion",
    }
    for name, result in results.items():
        tags[f"gate.{name}.passed"] = str(result.passed).lower()
        tags[f"gate.{name}.reasons"] = "; ".join(result.reasons)
        tags[f"gate.{name}.thresholds"] = json.dumps(dict(gates[name]), sort_keys=True)
        tags[f"gate.{name}.checks"] = json.dumps(result.checks, sort_keys=True)
    promoted = passed or force
    if force and not passed:
        tags.update(
            {"promotion.forced": "true", "promotion.forced_by": current_user(), "promotion.reason": reason}
        )
    mlflow_client = client(settings)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(family, str(info.version), key, value)
    if promoted and before != info.version:
        action = "force" if force and not passed else "promote"
        _move_champion(family, info.version, before, before, action, reason or "passed every gate", settings)
    return Promotion(info.version, promoted, results, before, forced=force and not passed)


def rollback(family: str, *, reason: str = "", settings: Settings | None = None) -> ChampionEvent:
    """Give ``champion`` back to the version the current one replaced; repeated, walk further back.

    Nothing is deleted: the rolled-back version stays registered, tagged with when it was rolled back.
    """
    settings = settings or load_settings()
    current = champion_version(family, settings=settings)
    if current is None:
        raise ValueError(f"{family} has no champion to roll back")
    events = history(family, settings=settings)
    made_current = [event for event in events if event.version == current]
    if not made_current or made_current[-1].fallback is None:
        raise ValueError(f"{family} version {current} replaced no earlier champion: nothing to roll back to")
    target = made_current[-1].fallback
    made_target = [event for event in events if event.version == target]
    fallback = made_target[-1].fallback if made_target else None
    why = reason or f"rolled back from version {current}"
    event = _move_champion(family, target, current, fallback, "rollback", why, settings)
    client(settings).set_model_version_tag(family, str(current), "promotion.rolled_back_at", event.at)
    return event
