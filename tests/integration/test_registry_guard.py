"""The registry guard against a real ``mlflow server`` on loopback (SQLite backend, webhooks on): a
``champion`` alias set through MLflow's REST API, as the UI sets it, is held to the gates. One server
and one guard serve the whole module; the MLflow UI's model version page is checked in Chromium."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from browser_support import artifact_path, chromium_or_skip, render
from typer.testing import CliRunner

from affectops.cli import app
from core.registry import CHAMPION
from core.settings import load_settings
from models import get_family

pytestmark = pytest.mark.integration

FAMILY = "hearing_loss"
GATES = {"quality": {"f1": 0.5, "f1_vs_champion": 0.05}}
SECRET = "test-only-webhook-secret"


@dataclass
class Registry:
    mlflow_url: str
    guard_url: str
    guard: object  # components.registry_guard.Guard
    versions: dict[str, int]  # "champion" / "failing" / "passing" -> version


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _delivery(
    data: dict, *, secret: str = SECRET, event: tuple[str, str] = ("model_version_alias", "created")
):
    """A delivery as MLflow sends it: body and signed headers."""
    from components.registry_guard import sign

    body = json.dumps({"entity": event[0], "action": event[1], "timestamp": "now", "data": data}).encode()
    delivery_id, timestamp = str(uuid.uuid4()), str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": sign(secret, delivery_id, timestamp, body),
    }
    return body, headers


def _champion() -> int | None:
    from core.registry import champion_version

    return champion_version(FAMILY, settings=load_settings())


def _wait_for(condition, timeout: float = 10.0) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, free_port, loopback_process, trained_tiny, tiny_split: Path
) -> Iterator[Registry]:
    from cryptography.fernet import Fernet

    from components.promotion import promote
    from components.registry import log_and_register
    from components.registry_guard import Guard, server

    tmp = tmp_path_factory.mktemp("registry-guard")
    port = free_port()
    mlflow_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination", str(tmp / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        # what a server needs for webhooks to a guard in its own network (k8s/base/mlflow.yaml sets the same)
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }
    spec = get_family(FAMILY)
    mlflow = loopback_process(
        command, tmp / "mlflow.log", lambda: _healthy(f"{mlflow_url}/health"), env=env, timeout=180
    )
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(1) as pool:
        starting = pool.submit(mlflow.__enter__)  # the server's migrations take seconds: train meanwhile
        httpd = None
        try:
            path = trained_tiny(spec.train.tiny())
            report = spec.evaluate.evaluate(spec.train.load(path), tiny_split)
            starting.result()
            patch.setenv("MLFLOW_TRACKING_URI", mlflow_url)
            patch.setenv("AFFECTOPS_HOME", str(tmp / "home"))
            patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            settings = load_settings()
            guard = Guard(settings, SECRET, gates_of=lambda family: GATES, attempts=3, backoff_s=0.2)
            httpd = server(guard, "127.0.0.1", 0)
            guard_url = f"http://127.0.0.1:{httpd.server_port}/"
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            assert guard.ensure_webhook(guard_url) == guard.ensure_webhook(guard_url)  # found, not made twice

            tags = {"dataset_version": "md5-guard", "pipeline_run_id": "run-guard"}
            versions = {}
            for role, f1 in (("champion", 0.8), ("failing", 0.6), ("passing", 0.82)):
                logged = {**report, "f1": f1}
                versions[role] = log_and_register(FAMILY, path, logged, tags=tags, settings=settings).version
            assert promote(FAMILY, versions["champion"], GATES, settings=settings).promoted
            yield Registry(mlflow_url, guard_url, guard, versions)
        finally:
            if httpd is not None:
                httpd.shutdown()
                httpd.server_close()
            if starting.exception() is None:  # waits for a start still under way
                mlflow.__exit__(None, None, None)


def _card(version: int) -> str:
    from core.registry import client

    return client(load_settings()).get_model_version(FAMILY, str(version)).description or ""


def _set_alias_over_rest(registry: Registry, version: int) -> None:
    """What the MLflow UI does when someone adds the alias on a version's page."""
    body = json.dumps({"name": FAMILY, "alias": CHAMPION, "version": str(version)}).encode()
    status, _ = _post(
        f"{registry.mlflow_url}/api/2.0/mlflow/registered-models/alias",
        body,
        {"Content-Type": "application/json"},
    )
    assert status == 200


def test_a_failing_version_set_as_champion_in_mlflow_is_put_back(registry: Registry) -> None:
    from components.promotion import history
    from components.registry import describe_version
    from core.registry import client

    settings = load_settings()
    champion, failing = registry.versions["champion"], registry.versions["failing"]
    assert _champion() == champion
    _set_alias_over_rest(registry, failing)
    # the alias moves at once; the guard's delivery puts it back
    seconds = _wait_for(lambda: history(FAMILY, settings=settings)[-1].action == "rejected")
    assert seconds < 5 and _champion() == champion
    event = history(FAMILY, settings=settings)[-1]
    assert (event.version, event.replaced) == (failing, champion)
    assert "f1 = 0.6000 is more than 0.05 below the champion's 0.8000" in event.reason
    tags = describe_version(FAMILY, failing, settings=settings).tags
    assert tags["gate.quality.passed"] == "false" and "put back on version" in tags["guard.rejected_reason"]
    alerts = [
        json.loads(line) for line in (settings.home / "alerts" / "alerts.jsonl").read_text().splitlines()
    ]
    assert alerts[-1]["version"] == str(failing) and alerts[-1]["breaches"][0]["metric"] == "f1"
    assert alerts[-1]["breaches"][0]["threshold"] == pytest.approx(0.75)  # the champion's 0.8 less 0.05
    card = client(settings).get_model_version(FAMILY, str(failing))
    assert "the registry guard put the alias back" in card.description
    history_out = CliRunner().invoke(app, ["registry", "history", FAMILY])
    assert f"rejected\tversion {failing}\treplaced {champion}" in history_out.output


def test_a_passing_version_set_as_champion_in_mlflow_stays_is_recorded_and_deployed(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from affectops.cli import guard_deploy_step
    from components.promotion import history

    settings = load_settings()
    passing, champion = registry.versions["passing"], registry.versions["champion"]
    step = guard_deploy_step(settings, out_dir=tmp_path, apply=False, canary_percent=10, profile=None)
    monkeypatch.setattr(registry.guard, "deploy", step)
    _set_alias_over_rest(registry, passing)
    _wait_for(lambda: history(FAMILY, settings=settings)[-1].version == passing)
    event = history(FAMILY, settings=settings)[-1]
    assert event.action == "promote" and event.by.startswith("set in MLflow")
    time.sleep(1.5)  # the guard's own alias write is delivered too: it must not move the alias again
    assert _champion() == passing and history(FAMILY, settings=settings)[-1] == event
    out = CliRunner().invoke(app, ["registry", "history", FAMILY]).output
    assert f"promote\tversion {passing}\treplaced {champion}\tset in MLflow" in out
    # the deploy step followed: the InferenceService `serve deploy` writes, a canary as it replaces one
    isvc = yaml.safe_load((tmp_path / f"{FAMILY}-{passing}.yaml").read_text())
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert isvc["metadata"]["labels"]["affectops.io/model-version"] == str(passing)


def _state() -> tuple:
    from core.registry import registered_model

    model = registered_model(FAMILY, settings=load_settings())
    return dict(model.aliases), dict(model.tags)


@pytest.mark.parametrize(
    ("mangle", "status"),
    [
        (lambda headers: {"Content-Type": "application/json"}, 401),
        (lambda headers: {**headers, "X-MLflow-Signature": "v1,AAAA"}, 403),
        (lambda headers: {**headers, "X-MLflow-Timestamp": str(int(time.time()) - 3600)}, 403),
    ],
    ids=["unsigned", "wrong signature", "replayed"],
)
def test_bad_signatures_are_refused_and_change_nothing(registry: Registry, mangle, status: int) -> None:
    before = _state()
    body, headers = _delivery(
        {"name": FAMILY, "alias": CHAMPION, "version": str(registry.versions["failing"])}
    )
    code, answer = _post(registry.guard_url, body, mangle(headers))
    assert code == status and "error" in answer
    assert _state() == before


def test_a_delivery_signed_with_another_secret_is_refused(registry: Registry) -> None:
    before = _state()
    body, headers = _delivery({"name": FAMILY, "alias": CHAMPION, "version": "1"}, secret="someone-else")
    assert _post(registry.guard_url, body, headers)[0] == 403
    assert _state() == before


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"name": FAMILY, "alias": CHAMPION, "version": "999"}, 404, "version 999"),
        ({"name": "no_such_model", "alias": CHAMPION, "version": "1"}, 404, "unknown model"),
        ({"name": FAMILY, "alias": CHAMPION, "version": "one"}, 400, "not a version number"),
    ],
)
def test_unknown_model_or_version_is_a_4xx(registry: Registry, data: dict, status: int, message: str) -> None:
    before = _state()
    code, answer = _post(registry.guard_url, *_delivery(data))
    assert code == status and message in answer["error"]
    assert _state() == before


def test_other_events_and_aliases_are_left_alone(registry: Registry) -> None:
    before = _state()
    code, answer = _post(
        registry.guard_url, *_delivery({"name": FAMILY, "alias": "challenger", "version": "2"})
    )
    assert code == 200 and answer["action"] == "ignored"
    code, answer = _post(
        registry.guard_url, *_delivery({"name": FAMILY}, event=("registered_model", "created"))
    )
    assert code == 200 and answer["action"] == "ignored"
    assert _state() == before


def test_mlflow_unreachable_is_retried_and_never_a_pass(registry: Registry, free_port, caplog) -> None:
    from components.registry_guard import Guard

    dead = replace(load_settings(), mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")
    guard = Guard(dead, SECRET, gates_of=lambda family: GATES, attempts=3, backoff_s=0.1)
    before = _state()
    body, headers = _delivery(
        {"name": FAMILY, "alias": CHAMPION, "version": str(registry.versions["failing"])}
    )
    with caplog.at_level("WARNING", logger="components.registry_guard"):
        status, answer = guard.handle(headers, body)
    assert status == 503 and "unreachable after 3 attempts" in answer["error"]
    assert [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()][-1].startswith(
        "MLflow unreachable (attempt 2 of 3)"
    )
    assert _state() == before


def test_the_mlflow_ui_model_version_page_shows_the_model_card(registry: Registry, tmp_path: Path) -> None:
    version = registry.versions["failing"]  # its card carries a failed gate and the guard's note
    # the guard's rejection written into the card, whichever tests ran before this one
    _set_alias_over_rest(registry, version)
    _wait_for(lambda: _champion() != version and "the registry guard put the alias back" in _card(version))
    page = render(
        chromium_or_skip(),
        f"{registry.mlflow_url}/#/models/{FAMILY}/versions/{version}",
        artifact_path(tmp_path, "mlflow-model-version-card.png"),
        ready="document.body.innerText.includes('Per-group metrics and fairness gaps')",
        height=2200,
    )
    # the card's Markdown, rendered by the UI: its headings, the version's values, the verdicts
    for text in (
        f"{FAMILY} version {version}",
        "Per-group metrics and fairness gaps",
        "md5-guard",
        "more than 0.05 below the champion",
        "the registry guard put the alias back",
    ):
        assert text in page.text, text
    assert page.screenshot.stat().st_size > 10_000


def test_the_guard_command_needs_its_secret(monkeypatch) -> None:
    monkeypatch.delenv("AFFECTOPS_REGISTRY_GUARD_SECRET", raising=False)
    result = CliRunner().invoke(app, ["registry", "guard", "--port", "0"])
    assert result.exit_code == 2 and "AFFECTOPS_REGISTRY_GUARD_SECRET" in result.output
