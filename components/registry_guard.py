"""The registry guard: holds a ``champion`` alias set in the MLflow UI (or MLflow's REST API) to the gates.

MLflow 3 sends a webhook for ``model_version_alias.created`` after the alias has moved. The guard
verifies the delivery's HMAC signature, then judges the version the alias now points at against the
platform's record of champions (``components/promotion.py``: each move is a registered-model tag
written before the alias moves):

- the alias matches the record: the platform moved it itself (a gated promotion, a rollback, or
  the guard putting it back) -> nothing to do;
- otherwise someone moved it by hand -> the family's gates run on that version against the recorded
  champion. A pass is recorded as a promotion; a failure puts the alias back on the recorded champion
  (or removes it when there was none), records the attempt (version tags, a ``rejected`` event in
  ``registry history``, the model card) and raises an alert (``monitoring/alerts.py``).

MLflow's webhook payload names no user, so the record says it was set in MLflow. When MLflow cannot be
reached the guard retries, then answers 503 (MLflow retries that delivery); an unreachable registry
is never a pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from components.gates import VS_CHAMPION, GateResult, is_ceiling
from core.registry import CHAMPION, client
from core.settings import Settings

log = logging.getLogger(__name__)

WEBHOOK_NAME = "affectops-registry-guard"
EVENTS = ("model_version_alias.created",)
# MLflow's signing scheme (mlflow/webhooks/delivery.py, Standard Webhooks): header "v1,<base64 of
# HMAC-SHA256(secret, f"{delivery id}.{timestamp}.{body}")>"
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_AGE_S = 300  # a delivery older (or newer) than this is a replay, refused
SET_IN_MLFLOW = "set in MLflow (the webhook names no user)"
MAX_BODY_BYTES = 1 << 20


class Refused(Exception):
    """A delivery the guard will not act on: ``status`` is the HTTP answer (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Unavailable(Exception):
    """MLflow did not answer (or answered with a server error)."""


@dataclass(frozen=True)
class Outcome:
    """What the guard did with one delivery."""

    action: str  # "ignored", "recorded" (the platform's own move), "promoted", "reverted"
    family: str
    version: int | None
    champion: int | None  # where ``champion`` points afterwards
    reasons: list[str] = field(default_factory=list)
    deployed: str | None = None  # where the deploy step put the promoted version's InferenceService

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` MLflow sends for this delivery."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
    """Check a delivery's signature and timestamp; its delivery id. 401 unsigned, 403 wrong or stale."""
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower())
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    delivery_id = lowered.get(DELIVERY_ID_HEADER.lower())
    if not signature or not timestamp or not delivery_id:
        raise Refused(
            401,
            f"unsigned delivery: {SIGNATURE_HEADER}, {TIMESTAMP_HEADER} and "
            f"{DELIVERY_ID_HEADER} are required",
        )
    try:
        sent = int(timestamp)
    except ValueError:
        raise Refused(403, f"{TIMESTAMP_HEADER} {timestamp!r} is not a Unix time") from None
    if abs((time.time() if now is None else now) - sent) > MAX_AGE_S:
        raise Refused(403, f"{TIMESTAMP_HEADER} is more than {MAX_AGE_S} s off: a replayed delivery")
    expected = sign(secret, delivery_id, timestamp, body)
    # the header may carry several space-separated signatures (Standard Webhooks: key rotation)
    if not any(hmac.compare_digest(expected, given) for given in signature.split()):
        raise Refused(403, "the signature does not match this delivery (wrong secret or altered body)")
    return delivery_id


def parse_delivery(body: bytes) -> tuple[str, dict[str, Any]]:
    """A delivery's event (``entity.action``) and its data; 400 for anything else."""
    try:
        payload = json.loads(body)
        event = f"{payload['entity']}.{payload['action']}"
        data = payload["data"]
    except (ValueError, KeyError, TypeError):
        raise Refused(
            400, "not an MLflow webhook delivery: expected JSON with entity, action, data"
        ) from None
    if not isinstance(data, dict):
        raise Refused(400, "the delivery's data must be an object")
    return event, data


def _unavailable_or_refused(err: Exception, what: str) -> Exception:
    from mlflow.exceptions import MlflowException

    if isinstance(err, MlflowException) and err.error_code == "RESOURCE_DOES_NOT_EXIST":
        return Refused(404, f"{what}: {err.message}")
    if isinstance(err, MlflowException) and err.error_code == "INVALID_PARAMETER_VALUE":
        return Refused(400, f"{what}: {err.message}")
    return Unavailable(f"{what}: {err}")


class Guard:
    """Judges alias deliveries against one MLflow registry; one at a time (MLflow may send in parallel)."""

    def __init__(
        self,
        settings: Settings,
        secret: str,
        *,
        alert_webhook: str | None = None,
        attempts: int = 4,
        backoff_s: float = 0.5,
        gates_of: Callable[[str], Mapping[str, Mapping[str, float]]] | None = None,
        deploy: Callable[[str, int, int | None], str] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the guard needs the webhook's HMAC secret (AFFECTOPS_REGISTRY_GUARD_SECRET)")
        self.settings = settings
        self.secret = secret
        self.alert_webhook = alert_webhook
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.gates_of = gates_of or _family_gates
        # (family, promoted version, the champion it replaces) -> where its InferenceService went
        self.deploy = deploy
        self._lock = threading.Lock()

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """One delivery -> (HTTP status, JSON answer). Nothing changes unless the signature holds."""
        try:
            delivery_id = verify(self.secret, headers, body)
            event, data = parse_delivery(body)
            if event not in EVENTS:
                return 200, {"action": "ignored", "reason": f"event {event} is not guarded"}
            outcome = self.review(data, delivery_id)
        except Refused as err:
            return err.status, {"error": err.message}
        except Unavailable as err:
            return 503, {"error": f"MLflow unreachable after {self.attempts} attempts: {err}"}
        return 200, outcome.as_dict()

    def review(self, data: Mapping[str, Any], delivery_id: str) -> Outcome:
        """Judge one ``model_version_alias.created``; retried while MLflow is unreachable."""
        from models import FAMILIES

        name, alias, version = (str(data.get(key, "")) for key in ("name", "alias", "version"))
        if alias != CHAMPION:
            return Outcome("ignored", name, None, None, [f"alias {alias!r} is not guarded"])
        if name not in FAMILIES:
            raise Refused(404, f"unknown model {name!r}: not a platform family ({', '.join(FAMILIES)})")
        if not version.isdigit():
            raise Refused(400, f"version {version!r} is not a version number")
        for attempt in range(self.attempts):
            try:
                with self._lock:
                    return self._review(name, int(version), delivery_id)
            except Unavailable as err:
                if attempt == self.attempts - 1:
                    raise
                log.warning("MLflow unreachable (attempt %d of %d): %s", attempt + 1, self.attempts, err)
                time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def _review(self, family: str, version: int, delivery_id: str) -> Outcome:
        from mlflow.exceptions import MlflowException

        from components.promotion import events_of, recorded_champion

        mlflow_client = client(self.settings)
        try:
            mlflow_client.get_model_version(family, str(version))
            model = mlflow_client.get_registered_model(family)
        except (MlflowException, OSError) as err:  # missing -> 4xx, anything else -> retried
            raise _unavailable_or_refused(err, f"{family} version {version}") from None
        current = model.aliases.get(CHAMPION)
        if current is None or int(current) != version:
            return Outcome(
                "ignored",
                family,
                version,
                None if current is None else int(current),
                ["the alias has moved on since this delivery"],
            )
        recorded = recorded_champion(events_of(model.tags))
        if recorded == version:
            return Outcome("recorded", family, version, version)
        try:
            return self._judge(family, version, recorded, delivery_id)
        except (MlflowException, ValueError, OSError) as err:  # failed mid-way: retried from the start
            raise Unavailable(f"{family} version {version}: {err}") from None

    def _judge(self, family: str, version: int, recorded: int | None, delivery_id: str) -> Outcome:
        from components.model_card import write_cards
        from components.promotion import gate_version, move_champion, record_event

        gates = self.gates_of(family)
        results = gate_version(family, version, recorded, gates, settings=self.settings)
        reasons = [f"{name}: {reason}" for name, result in results.items() for reason in result.reasons]
        if not reasons:
            why = f"passed every gate; champion alias set in MLflow (delivery {delivery_id})"
            move_champion(
                family, version, recorded, recorded, "promote", why, self.settings, by=SET_IN_MLFLOW
            )
            return Outcome(
                "promoted", family, version, version, deployed=self._deploy(family, version, recorded)
            )
        mlflow_client = client(self.settings)
        if recorded is None:
            mlflow_client.delete_registered_model_alias(family, CHAMPION)
        else:
            mlflow_client.set_registered_model_alias(family, CHAMPION, str(recorded))
        back = "removed (no earlier champion)" if recorded is None else f"put back on version {recorded}"
        why = f"champion alias set in MLflow failed the gates and was {back}: " + "; ".join(reasons)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        tags = {"guard.rejected_at": at, "guard.rejected_reason": why, "guard.delivery_id": delivery_id}
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(family, str(version), key, value)
        write_cards(family, version, settings=self.settings)
        self._alert(family, version, recorded, results, gates, delivery_id)
        # last: the history's event says the attempt has been handled in full
        record_event(family, version, recorded, None, "rejected", why, self.settings, by=SET_IN_MLFLOW)
        return Outcome("reverted", family, version, recorded, reasons)

    def _deploy(self, family: str, version: int, replaced: int | None) -> str | None:
        """The deploy step after a pass; its failure leaves the promotion standing and is logged."""
        if self.deploy is None:
            return None
        try:
            return self.deploy(family, version, replaced)
        except Exception as err:  # the version passed its gates: a failed deploy is a deploy problem
            log.error("deploying %s version %d failed: %s", family, version, err)
            return f"failed: {err}"

    def _alert(
        self,
        family: str,
        version: int,
        recorded: int | None,
        results: Mapping[str, GateResult],
        gates: Mapping[str, Mapping[str, float]],
        delivery_id: str,
    ) -> None:
        """One alert record (and the alert webhook, if set) naming every failed check."""
        from components.promotion import evaluation
        from components.registry import describe_version
        from monitoring.alerts import raise_alerts
        from monitoring.gates import Breach

        champion: Mapping[str, Any] = {}
        if recorded is not None:
            run_id = describe_version(family, recorded, settings=self.settings).run_id
            champion = evaluation(run_id, self.settings)
        breaches = []
        for name, result in results.items():
            for key in result.failed:
                value = result.checks.get(key)
                value = math.nan if value is None else value
                scope = f"promotion gate {name}"
                if key.endswith(VS_CHAMPION):  # as a floor: the champion's value less the allowed drop
                    metric = key[: -len(VS_CHAMPION)]
                    floor = champion.get(metric, math.nan) - gates[name][key]
                    breaches.append(
                        Breach(metric, f"{scope} (vs champion {recorded})", value, floor, "floor")
                    )
                else:
                    kind = "ceiling" if is_ceiling(key) else "floor"
                    breaches.append(Breach(key, scope, value, gates[name][key], kind))
        raise_alerts(
            breaches,
            model=family,
            version=str(version),
            window={
                "event": "champion alias set in MLflow, turned back by the registry guard",
                "delivery_id": delivery_id,
                "champion": recorded,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            alerts_dir=self.settings.home / "alerts",
            webhook_url=self.alert_webhook,
        )

    def ensure_webhook(self, url: str) -> str:
        """Register the guard's MLflow webhook (``url``, ``EVENTS``, the secret) unless one named
        ``WEBHOOK_NAME`` exists, which is brought up to date instead; the webhook's id."""
        from mlflow.exceptions import MlflowException

        mlflow_client = client(self.settings)
        for attempt in range(self.attempts):
            try:
                found = [hook for hook in _all_webhooks(mlflow_client) if hook.name == WEBHOOK_NAME]
                if found:
                    # the secret cannot be read back; setting it keeps MLflow's and the guard's equal
                    mlflow_client.update_webhook(
                        found[0].webhook_id, url=url, events=list(EVENTS), secret=self.secret, status="ACTIVE"
                    )
                    return found[0].webhook_id
                hook = mlflow_client.create_webhook(
                    name=WEBHOOK_NAME,
                    url=url,
                    events=list(EVENTS),
                    description="affectops registry guard: champion aliases are held to the gates",
                    secret=self.secret,
                )
                return hook.webhook_id
            except (MlflowException, OSError) as err:
                problem = _unavailable_or_refused(err, "registering the webhook")
                if isinstance(problem, Refused) or attempt == self.attempts - 1:
                    raise problem from None
                time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")


def _all_webhooks(mlflow_client: Any) -> list[Any]:
    hooks, token = [], None
    while True:
        page = mlflow_client.list_webhooks(max_results=100, page_token=token)
        hooks.extend(page)
        token = page.token
        if not token:
            return hooks


def _family_gates(family: str) -> Mapping[str, Mapping[str, float]]:
    from models import get_family

    return get_family(family).evaluate.gates


def server(guard: Guard, host: str, port: int) -> ThreadingHTTPServer:
    """The guard's HTTP server (not started): POST / takes deliveries, GET /healthz answers 200."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": f"no such path {self.path}; deliveries go to POST /"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, {"error": f"a delivery is at most {MAX_BODY_BYTES} bytes"})
                return
            body = self.rfile.read(length)
            status, answer = guard.handle(dict(self.headers.items()), body)
            log.info("delivery %s -> %d %s", self.headers.get(DELIVERY_ID_HEADER), status, answer)
            self._answer(status, answer)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)
