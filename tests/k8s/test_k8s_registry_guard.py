"""The registry guard and MLflow's webhooks as every overlay renders them: the guard's command and the
URL it registers, its settings and secret by reference, MLflow's webhook settings, and the two flows
between them (and no others into the guard)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from k8s_support import containers, ident, pod_spec

pytestmark = pytest.mark.integration

NS = "affectops"
GUARD_SECRET = {"name": "affectops-registry-guard", "key": "hmac-secret"}
ENCRYPTION_KEY = {"name": "affectops-mlflow-webhooks", "key": "encryption-key"}


def _get(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if ident(d) == f"{kind}/{NS}/{name}"]
    assert found, f"{kind}/{NS}/{name} is not rendered"
    return found[0]


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _args(container: dict) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in container["args"])


def _service_url(service: dict) -> tuple[str, int]:
    meta = service["metadata"]
    return f"{meta['name']}.{meta['namespace']}.svc.cluster.local", service["spec"]["ports"][0]["port"]


def test_guard_serves_its_service_and_registers_that_url(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        (guard,) = containers(pod_spec(_get(docs, "Deployment", "registry-guard")))
        assert guard["command"] == ["affectops", "registry", "guard"], overlay
        args = _args(guard)
        url = urlparse(args["url"])
        assert (url.hostname, url.port) == _service_url(_get(docs, "Service", "registry-guard")), overlay
        assert int(args["port"]) == guard["ports"][0]["containerPort"] == url.port
        assert guard["readinessProbe"]["httpGet"]["path"] == "/healthz"
        tracking = urlparse(_env(guard)["MLFLOW_TRACKING_URI"]["value"])
        assert (tracking.hostname, tracking.port) == _service_url(_get(docs, "Service", "mlflow")), overlay
        assert _get(docs, "Deployment", "registry-guard")["spec"]["replicas"] == 1


def test_secrets_come_by_reference(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        (guard,) = containers(pod_spec(_get(docs, "Deployment", "registry-guard")))
        secret = _env(guard)["AFFECTOPS_REGISTRY_GUARD_SECRET"]
        assert "value" not in secret and secret["valueFrom"]["secretKeyRef"] == GUARD_SECRET, overlay
        assert "--secret" not in " ".join(guard["args"])
        (mlflow,) = containers(pod_spec(_get(docs, "Deployment", "mlflow")))
        key = _env(mlflow)["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"]
        assert "value" not in key and key["valueFrom"]["secretKeyRef"] == ENCRYPTION_KEY, overlay


def test_mlflow_may_deliver_webhooks_to_an_in_cluster_http_url(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        (mlflow,) = containers(pod_spec(_get(docs, "Deployment", "mlflow")))
        env = _env(mlflow)
        assert "http" in env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"]["value"].split(","), overlay
        assert env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"]["value"] == "true", overlay


def _rules(docs: list[dict], labels: dict, direction: str, port: int) -> list[dict]:
    """The peers of every ``direction`` rule of a policy in NS that selects ``labels`` and opens ``port``."""
    peers = []
    for p in (d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["namespace"] == NS):
        if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items():
            for rule in p["spec"].get(direction, []):
                if not rule.get("ports") or any(r.get("port") == port for r in rule["ports"]):
                    peers += rule.get("from" if direction == "ingress" else "to", [{}])
    return peers


def _labels(docs: list[dict], name: str) -> dict:
    return _get(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]


def _selects(peer: dict, labels: dict) -> bool:
    return (
        "namespaceSelector" not in peer
        and peer.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items()
    )


def test_mlflow_and_the_guard_reach_each_other_and_only_mlflow_reaches_the_guard(
    rendered: dict[str, list[dict]],
) -> None:
    for overlay, docs in rendered.items():
        guard, mlflow = _labels(docs, "registry-guard"), _labels(docs, "mlflow")
        into_guard = _rules(docs, guard, "ingress", 8095)
        assert into_guard and all(_selects(peer, mlflow) for peer in into_guard), (overlay, into_guard)
        assert any(_selects(peer, guard) for peer in _rules(docs, mlflow, "egress", 8095)), overlay
        assert any(_selects(peer, mlflow) for peer in _rules(docs, guard, "egress", 5000)), overlay
        assert any(_selects(peer, guard) for peer in _rules(docs, mlflow, "ingress", 5000)), overlay
