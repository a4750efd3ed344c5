"""The registry guard's signature check against MLflow's own signing, and its default gates."""

from __future__ import annotations

import time

import pytest

from components.registry_guard import Guard, Refused, sign, verify
from core.settings import load_settings
from models import FAMILIES

pytestmark = pytest.mark.unit

BODY = b'{"entity": "model_version_alias", "action": "created", "data": {}}'


def _headers(signature: str, timestamp: str) -> dict[str, str]:
    return {"X-MLflow-Signature": signature, "X-MLflow-Timestamp": timestamp, "X-MLflow-Delivery-Id": "d-1"}


def test_sign_is_mlflows_scheme() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    assert sign("key", "d-1", "1700000000", BODY) == _generate_hmac_signature(
        "key", "d-1", "1700000000", BODY.decode()
    )


def test_verify_takes_any_of_several_signatures_and_refuses_an_altered_body() -> None:
    now = str(int(time.time()))
    rotated = f"v1,b2xk {sign('key', 'd-1', now, BODY)}"  # an old key's signature beside the current one
    assert verify("key", _headers(rotated, now), BODY) == "d-1"
    with pytest.raises(Refused) as refused:
        verify("key", _headers(rotated, now), BODY + b" ")
    assert refused.value.status == 403


def test_the_guard_runs_each_familys_own_gates() -> None:
    guard = Guard(load_settings(), "key")
    for name, spec in FAMILIES.items():
        assert guard.gates_of(name) == spec.evaluate.gates


def test_the_guard_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="HMAC secret"):
        Guard(load_settings(), "")
