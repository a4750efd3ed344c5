"""Move the ``champion`` alias: gated promotion, forced promotion, rollback, and the history of all three.

Every gate's verdict is a tag on the version (``gate.<name>.passed``, ``gate.<name>.reasons``, ...),
so MLflow shows why a version was or was not promoted. MLflow keeps no history of aliases, so each
move of ``champion`` is also written as a registered-model tag ``champion.event.<n>`` (JSON: version,
previous champion, action, who, when, why); ``history`` and ``rollback`` read those. Nothing is deleted.
The registry guard (``components/registry_guard.py``) also records there the attempts it turned back
(action ``rejected``: the version that was set as champion in MLflow and failed a gate).
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
from components.model_card import write_cards
from components.registry import describe_version
from core.registry import CHAMPION, champion_version, client, registered_model
from core.settings import Settings, load_settings

EVENT_PREFIX = "champion.event."
MOVES = ("promote", "force", "rollback")  # the actions that made a version champion; "rejected" did not


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
    action: str  # one of MOVES, or "rejected"
    by: str
    at: str  # ISO 8601, UTC
    reason: str


def current_user() -> str:
    return os.environ.get("AFFECTOPS_USER") or getpass.getuser()


def history(family: str, *, settings: Settings | None = None) -> list[ChampionEvent]:
    """Every move of ``champion`` and every rejected attempt, oldest first."""
    return events_of(registered_model(family, settings=settings).tags)


def events_of(tags: Mapping[str, str]) -> list[ChampionEvent]:
    """The champion events recorded in a registered model's ``tags``, oldest first."""
    events = [
        ChampionEvent(sequence=int(key[len(EVENT_PREFIX) :]), **json.loads(value))
        for key, value in tags.items()
        if key.startswith(EVENT_PREFIX)
    ]
    return sorted(events, key=lambda event: event.sequence)


def recorded_champion(events: list[ChampionEvent]) -> int | None:
    """The version the last recorded move made champion: what ``champion`` should point at."""
    moves = [event for event in events if event.action in MOVES]
    return moves[-1].version if moves else None


def record_event(
    family: str,
    version: int,
    replaced: int | None,
    fallback: int | None,
    action: str,
    reason: str,
    settings: Settings,
    by: str | None = None,
) -> ChampionEvent:
    """Append a champion event (a registered-model tag); ``by`` defaults to the current user."""
    event = ChampionEvent(
        sequence=len(history(family, settings=settings)) + 1,
        version=version,
        replaced=replaced,
        fallback=fallback,
        action=action,
        by=by or current_user(),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        reason=reason,
    )
    record = {k: v for k, v in event.__dict__.items() if k != "sequence"}
    client(settings).set_registered_model_tag(
        family, f"{EVENT_PREFIX}{event.sequence:05d}", json.dumps(record)
    )
    return event


def move_champion(
    family: str,
    version: int,
    replaced: int | None,
    fallback: int | None,
    action: str,
    reason: str,
    settings: Settings,
    by: str | None = None,
) -> ChampionEvent:
    """Record the move, then point ``champion`` at ``version``."""
    # recorded before the alias moves: the registry guard takes an alias that matches the record as
    # the platform's own move
    event = record_event(family, version, replaced, fallback, action, reason, settings, by)
    client(settings).set_registered_model_alias(family, CHAMPION, str(version))
    return event


def evaluation(run_id: str, settings: Settings) -> dict[str, Any]:
    """The metrics logged with a version's run: what the gates read."""
    return dict(client(settings).get_run(run_id).data.metrics)


def gate_version(
    family: str,
    version: int,
    champion: int | None,
    gates: Mapping[str, Mapping[str, float]],
    *,
    settings: Settings,
) -> dict[str, GateResult]:
    """Run every gate on ``version``'s logged evaluation, against ``champion``'s for ``*_vs_champion``;
    record each verdict as version tags and in its model card. The verdicts."""
    compared = None
    if champion is not None and champion != version:
        compared = evaluation(describe_version(family, champion, settings=settings).run_id, settings)
    run_id = describe_version(family, version, settings=settings).run_id
    results = run_gates(evaluation(run_id, settings), gates, compared)
    passed = all(result.passed for result in results.values())
    tags = {
        "gate.passed": str(passed).lower(),
        "gate.reasons": "; ".join(f"{n}: {r}" for n, res in results.items() for r in res.reasons),
        "gate.checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gate.compared_with": f"version {champion}" if compared is not None else "no champion",
    }
    for name, result in results.items():
        tags[f"gate.{name}.passed"] = str(result.passed).lower()
        tags[f"gate.{name}.reasons"] = "; ".join(result.reasons)
        tags[f"gate.{name}.thresholds"] = json.dumps(dict(gates[name]), sort_keys=True)
        tags[f"gate.{name}.checks"] = json.dumps(result.checks, sort_keys=True)
    mlflow_client = client(settings)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(family, str(version), key, value)
    write_cards(family, version, settings=settings)
    return results


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
    results = gate_version(family, info.version, before, gates, settings=settings)
    passed = all(result.passed for result in results.values())
    promoted = passed or force
    if force and not passed:
        forced = {
            "promotion.forced": "true",
            "promotion.forced_by": current_user(),
            "promotion.reason": reason,
        }
        for key, value in forced.items():
            client(settings).set_model_version_tag(family, str(info.version), key, value)
        write_cards(family, info.version, settings=settings)
    if promoted and before != info.version:
        action = "force" if force and not passed else "promote"
        move_champion(family, info.version, before, before, action, reason or "passed every gate", settings)
    return Promotion(info.version, promoted, results, before, forced=force and not passed)


def rollback(family: str, *, reason: str = "", settings: Settings | None = None) -> ChampionEvent:
    """Give ``champion`` back to the version the current one replaced; repeated, walk further back.

    Nothing is deleted: the rolled-back version stays registered, tagged with when it was rolled back.
    """
    settings = settings or load_settings()
    current = champion_version(family, settings=settings)
    if current is None:
        raise ValueError(f"{family} has no champion to roll back")
    events = [event for event in history(family, settings=settings) if event.action in MOVES]
    made_current = [event for event in events if event.version == current]
    if not made_current or made_current[-1].fallback is None:
        raise ValueError(f"{family} version {current} replaced no earlier champion: nothing to roll back to")
    target = made_current[-1].fallback
    made_target = [event for event in events if event.version == target]
    fallback = made_target[-1].fallback if made_target else None
    why = reason or f"rolled back from version {current}"
    event = move_champion(family, target, current, fallback, "rollback", why, settings)
    client(settings).set_model_version_tag(family, str(current), "promotion.rolled_back_at", event.at)
    return event
