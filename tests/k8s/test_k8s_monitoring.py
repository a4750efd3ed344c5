"""The monitoring services (sink, report CronJob, Evidently UI) and the predictors' S3 access, as
every overlay renders them: commands, volumes, settings, credentials and the flows between them."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from k8s_support import K8S, OVERLAYS, containers, ident, pod_spec, run_tool

from core.settings import load_settings
from models import FAMILIES
from monitoring.config import monitored_families
from monitoring.report import workspace_dir
from pipelines.cluster import S3_SECRET_KEYS, load_cluster

pytestmark = pytest.mark.integration

NS = "affectops-monitoring"
SINK_ARGS = [
    "--store=/data/inference-log",
    "--host=0.0.0.0",
    "--port=8090",
    "--remote=s3://affectops/inference-log",
]
# every family with a monitoring config is reported on: what `monitor report` does without --model
MONITORED = [name for name, spec in FAMILIES.items() if spec.monitor is not None]
REPORT_COMMAND = ["affectops", "monitor", "report", "--window", "7d"]


def _get(docs: list[dict], kind: str, name: str, namespace: str = NS) -> dict:
    found = [d for d in docs if ident(d) == f"{kind}/{namespace}/{name}"]
    assert found, f"{kind}/{namespace}/{name} is not rendered"
    return found[0]


def _mounts(spec: dict) -> dict[str, str]:
    """mountPath -> the PVC claim behind it."""
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if v.get("persistentVolumeClaim")
    }
    (c,) = spec["containers"]
    return {m["mountPath"]: claims[m["name"]] for m in c["volumeMounts"] if m["name"] in claims}


def _endpoints(docs: list[dict], namespace: str) -> dict[str, str]:
    return _get(docs, "ConfigMap", "affectops-endpoints", namespace)["data"]


def test_sink_runs_the_sink_as_a_single_writer_on_a_durable_volume(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        deployment = _get(docs, "Deployment", "inference-log-sink")
        spec = pod_spec(deployment)
        (c,) = spec["containers"]
        assert c["command"] == ["python", "-m", "monitoring.sink"] and c["args"] == SINK_ARGS, overlay
        # the journal's writer lock admits one process: never two pods, not even during a rollout
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        claim = _mounts(spec)["/data"]
        assert _get(docs, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
        (port,) = c["ports"]
        assert port["containerPort"] == 8090
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}, (overlay, probe)
        remote = urlparse(SINK_ARGS[-1].split("=", 1)[1])
        assert remote.netloc == _endpoints(docs, NS)["AFFECTOPS_S3_BUCKET"], overlay


def test_sink_url_names_the_sink_service(rendered: dict[str, list[dict]], cluster_config: dict) -> None:
    url = urlparse(cluster_config["monitoring"]["sink_url"])
    name, namespace, *rest = url.hostname.split(".")
    assert rest == ["svc", "cluster", "local"] and namespace == cluster_config["monitoring"]["namespace"]
    for overlay, docs in rendered.items():
        service = _get(docs, "Service", name, namespace)
        (port,) = [p for p in service["spec"]["ports"] if p["port"] == url.port]
        pod = pod_spec(_get(docs, "Deployment", "inference-log-sink"))
        labels = _get(docs, "Deployment", "inference-log-sink")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), overlay
        assert port["targetPort"] in {p["name"] for p in pod["containers"][0]["ports"]}
        # the deploy step reads it from cluster.yaml or the pipeline pods' settings; both agree
        assert load_cluster(overlay).sink_url == cluster_config["monitoring"]["sink_url"]
        settings = load_settings(_endpoints(docs, cluster_config["pipelines"]["namespace"]))
        assert settings.sink_url == cluster_config["monitoring"]["sink_url"], overlay


def test_report_and_ui_share_the_workspace(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        cronjob = _get(docs, "CronJob", "monitoring-report")
        report = pod_spec(cronjob)
        ui = pod_spec(_get(docs, "Deployment", "evidently-ui"))
        (report_c,), (ui_c,) = report["containers"], ui["containers"]
        assert report_c["command"] == REPORT_COMMAND and monitored_families() == MONITORED, overlay
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
        home = Path(next(e["value"] for e in report_c["env"] if e["name"] == "AFFECTOPS_HOME"))
        args = ui_c["command"] + ui_c["args"]
        assert args[:2] == ["evidently", "ui"]
        workspace = args[args.index("--workspace") + 1]
        assert str(workspace_dir(home)) == workspace, f"{overlay}: the report writes where the UI reads"
        assert args[args.index("--host") + 1] == "0.0.0.0" and args[args.index("--port") + 1] == "8000"
        assert _mounts(report)[str(home)] == _mounts(ui)[str(home)], overlay
        claim = _get(docs, "PersistentVolumeClaim", _mounts(ui)[str(home)])
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"], overlay
        assert claim["spec"].get("storageClassName"), f"{overlay}: name an RWX storage class"
        for probe in ("readinessProbe", "livenessProbe"):
            assert ui_c[probe]["httpGet"]["path"] == "/api/version"


def test_monitoring_settings_and_credentials_come_by_reference(
    rendered: dict[str, list[dict]], cluster_config: dict
) -> None:
    secret = cluster_config["pipelines"]["s3_secret"]
    config_map = cluster_config["pipelines"]["endpoints_config_map"]
    for overlay, docs in rendered.items():
        pipelines_env = _endpoints(docs, cluster_config["pipelines"]["namespace"])
        monitoring_env = _endpoints(docs, NS)
        # the same settings as pipeline pods, less the sink URL (the sink's clients are elsewhere), plus
        # where the inference log's partitions live (the sink writes them, the report reads them)
        assert {k: v for k, v in monitoring_env.items() if k != "AFFECTOPS_INFERENCE_LOG_REMOTE"} == {
            k: v for k, v in pipelines_env.items() if k != "AFFECTOPS_SINK_URL"
        }
        sink = _get(docs, "Deployment", "inference-log-sink")
        (sink_c,) = containers(pod_spec(sink))
        remote = next(a.split("=", 1)[1] for a in sink_c["args"] if a.startswith("--remote="))
        assert monitoring_env["AFFECTOPS_INFERENCE_LOG_REMOTE"] == remote
        for name, kind in (("inference-log-sink", "Deployment"), ("monitoring-report", "CronJob")):
            (c,) = containers(pod_spec(_get(docs, kind, name)))
            assert c["envFrom"] == [{"configMapRef": {"name": config_map}}], (overlay, name)
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}
            assert refs == {var: {"name": secret, "key": key} for key, var in S3_SECRET_KEYS.items()}, name
            assert all("value" not in e for e in c["env"] if e["name"].startswith("AWS_"))


def _peers(docs: list[dict], ns: str, labels: dict, direction: str, port: int) -> list[dict]:
    """Every peer a policy in ``ns`` selecting ``labels`` lets through on ``port``."""
    key = "from" if direction == "ingress" else "to"
    out = []
    for p in (d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["namespace"] == ns):
        if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items():
            for rule in p["spec"].get(direction, []):
                if not rule.get("ports") or any(r.get("port") == port for r in rule["ports"]):
                    out += rule.get(key, [{}])
    return out


def _namespace(peer: dict) -> str | None:
    return peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")


def test_sink_and_ui_accept_only_their_clients(rendered: dict[str, list[dict]]) -> None:
    for overlay, docs in rendered.items():
        sink = _get(docs, "Deployment", "inference-log-sink")["spec"]["template"]["metadata"]["labels"]
        peers = _peers(docs, NS, sink, "ingress", 8090)
        assert peers and all(_namespace(p) == "affectops-serving" for p in peers), (overlay, peers)
        ui = _get(docs, "Deployment", "evidently-ui")["spec"]["template"]["metadata"]["labels"]
        peers = _peers(docs, NS, ui, "ingress", 8000)
        # a peer without namespaceSelector is a pod of the policy's own namespace
        assert peers and all("namespaceSelector" not in p for p in peers), (overlay, peers)


def test_predictor_service_account_carries_the_s3_settings(
    rendered: dict[str, list[dict]], cluster_config: dict
) -> None:
    serving = cluster_config["serving"]
    for overlay, docs in rendered.items():
        account = _get(docs, "ServiceAccount", serving["service_account"], serving["namespace"])
        assert account["secrets"] == [{"name": cluster_config["pipelines"]["s3_secret"]}], overlay
        annotations = account["metadata"]["annotations"]
        endpoint = load_settings(_endpoints(docs, cluster_config["pipelines"]["namespace"])).s3_endpoint_url
        expected = urlparse(endpoint) if endpoint else urlparse("https://s3.amazonaws.com")
        assert annotations["serving.kserve.io/s3-endpoint"] == expected.netloc, overlay
        assert annotations["serving.kserve.io/s3-usehttps"] == ("1" if expected.scheme == "https" else "0")
        assert annotations["serving.kserve.io/s3-region"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kserve_credentials_map_our_secret_keys(
    tools: Path, rendered: dict[str, list[dict]], validation_config: dict, cluster_config: dict, overlay: str
) -> None:
    path = K8S / "overlays" / overlay / "kserve-credentials.yaml"
    config = yaml.safe_load(path.read_text())
    assert (config["kind"], config["metadata"]) == (
        "ConfigMap",
        {"name": "inferenceservice-config", "namespace": "kserve"},
    )
    assert set(config["data"]) == {"credentials"}, "only the one key this file owns (server-side apply)"
    s3 = json.loads(config["data"]["credentials"])["s3"]
    access_key, secret_key = S3_SECRET_KEYS
    assert (s3["s3AccessKeyIDName"], s3["s3SecretAccessKeyName"]) == (access_key, secret_key)
    serving = cluster_config["serving"]
    account = _get(rendered[overlay], "ServiceAccount", serving["service_account"], serving["namespace"])
    annotations = account["metadata"]["annotations"]
    assert s3["s3Endpoint"] == annotations["serving.kserve.io/s3-endpoint"]
    assert s3["s3UseHttps"] == annotations["serving.kserve.io/s3-usehttps"]
    assert s3["s3Region"] == annotations["serving.kserve.io/s3-region"]
    result = run_tool(
        [tools / "kubernetes-validate", "--strict", "-k", validation_config["kubernetes_version"], path]
    )
    assert result.returncode == 0, result.stdout + result.stderr
