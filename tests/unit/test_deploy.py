"""The deploy step: registry references resolved on a real MLflow (SQLite), InferenceServices built
with the kserve SDK and read back through its types field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import load_settings
from models import get_family
from pipelines.cluster import load_cluster
from serving.batching import BatchPolicy
from serving.deploy import (
    ResolvedModel,
    build_inference_service,
    deploy,
    load_inference_service,
    resolve_model,
    storage_uri,
    to_dict,
    to_yaml,
)

pytestmark = pytest.mark.unit

FAMILY = "hearing_loss"
CONFIG = get_family("hearing_loss").train.tiny()
S3_URI = "s3://affectops/mlflow/1/models/m-abc/artifacts"
SINK = "http://sink.affectops-monitoring.svc.cluster.local:8090"


@pytest.fixture(scope="module")
def registry(trained_tiny, tmp_path_factory: pytest.TempPathFactory):
    """Two registered versions of the tiny model; version 1 is champion, version 2 challenger."""
    import mlflow

    from components.registry import CHAMPION, log_and_register

    root = tmp_path_factory.mktemp("registry")
    env = {"AFFECTOPS_HOME": str(root / "home"), "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    settings = load_settings(env)
    path = trained_tiny(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # anything MLflow writes to the working directory lands here
        first = log_and_register(FAMILY, path, {"f1": 0.5}, settings=settings)
        second = log_and_register(FAMILY, path, {"f1": 0.6}, settings=settings)
    mlflow.MlflowClient(settings.mlflow_tracking_uri).set_registered_model_alias(FAMILY, CHAMPION, "1")
    return settings, first, second


def test_resolve_champion_challenger_and_version(registry) -> None:
    import mlflow

    settings, first, second = registry
    champion = resolve_model(f"models:/{FAMILY}@champion", settings)
    assert (champion.name, champion.version, champion.run_id) == (FAMILY, 1, first.run_id)
    assert champion.champion == 1 and not champion.replaces_champion
    # the storage URI is the logged pyfunc's model directory, as MLflow itself resolves it
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    assert champion.storage_uri == client.get_model_version_download_uri(FAMILY, "1")
    model_dir = Path(champion.storage_uri.removeprefix("file://"))
    assert (model_dir / "MLmodel").is_file()

    challenger = resolve_model(f"models:/{FAMILY}@challenger", settings)
    assert (challenger.version, challenger.run_id, challenger.champion) == (2, second.run_id, 1)
    assert challenger.replaces_champion and challenger.storage_uri != champion.storage_uri
    pinned = resolve_model(f"models:/{FAMILY}/2", settings)
    assert (pinned.version, pinned.storage_uri) == (2, challenger.storage_uri)
    assert pinned.ref == f"models:/{FAMILY}/2"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (f"{FAMILY}@champion", "expected models:/NAME@ALIAS or models:/NAME/VERSION"),
        (f"models:/{FAMILY}", "expected models:/NAME@ALIAS"),
        (f"models:/{FAMILY}/latest", "expected models:/NAME@ALIAS"),
        ("models:/nope@champion", "no registered model 'nope'"),
        (f"models:/{FAMILY}@canary", f"'{FAMILY}' has no alias 'canary'"),
        (f"models:/{FAMILY}/9", f"'{FAMILY}' has no version 9"),
    ],
)
def test_bad_refs_are_named(registry, ref: str, message: str) -> None:
    settings, _, _ = registry
    with pytest.raises(ValueError, match="model ref") as err:
        resolve_model(ref, settings)
    assert message in str(err.value)


def test_proxied_artifact_uris_map_onto_the_servers_store() -> None:
    dest = load_cluster("self-hosted").mlflow_artifacts
    assert storage_uri("mlflow-artifacts:/1/models/m-abc/artifacts", dest) == S3_URI
    assert storage_uri("mlflow-artifacts://mlflow:5000/1/models/m-abc/artifacts", dest + "/") == S3_URI
    assert storage_uri(S3_URI) == S3_URI
    with pytest.raises(ValueError, match="artifacts_destination: needed to map mlflow-artifacts:/1/x"):
        storage_uri("mlflow-artifacts:/1/x")


def _resolved(version: int = 3, champion: int | None = 2) -> ResolvedModel:
    return ResolvedModel(f"models:/{FAMILY}@challenger", FAMILY, version, "run-3", S3_URI, champion)


def _round_trip(isvc) -> dict:
    """YAML -> dict -> kserve SDK types -> dict: nothing may be lost or renamed on the way."""
    text = to_yaml(isvc)
    back = load_inference_service(text)
    assert to_dict(back) == to_dict(isvc)
    return to_dict(back)


def test_the_video_transformer_sits_in_front_of_the_predictor() -> None:
    cluster = load_cluster()
    weights = "s3://affectops/encoders/marlin_vit_small.pt"
    got = _round_trip(
        build_inference_service(_resolved(), family=FAMILY, cluster=cluster, video_encoder_weights=weights)
    )
    transformer = got["spec"]["transformer"]
    (container,) = transformer["containers"]
    assert container["image"] == cluster.image
    assert container["command"] == ["python", "-m", "serving.transformer_server"]
    assert container["args"] == [
        *("--model-name", "hearing-loss", "--encoder-weights", weights),
        *("--host", "0.0.0.0", "--http-port", "8080"),
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] == dict(cluster.cpu.requests)
    assert transformer["serviceAccountName"] == got["spec"]["predictor"]["serviceAccountName"]
    # the transformer's own parser accepts what the manifest and KServe pass
    from serving.transformer_server import parser

    args = parser().parse_args([*container["args"], "--predictor_host", "hl-predictor.ns"])
    assert (args.model_name, args.predictor_host, args.encoder_weights) == (
        "hearing-loss",
        "hl-predictor.ns",
        weights,
    )
    with pytest.raises(ValueError, match="video_encoder_weights"):
        build_inference_service(
            _resolved(), family=FAMILY, cluster=cluster, video_encoder_weights="/tmp/w.pt"
        )
    with pytest.raises(ValueError, match="family 'expression' has no raw-media preprocessing"):
        build_inference_service(
            _resolved(), family="expression", cluster=cluster, video_encoder_weights=weights
        )


def test_gpu_canary_inference_service_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = load_cluster("cloud-gpu")
    settings = load_settings({"AFFECTOPS_S3_ENDPOINT_URL": "http://minio.affectops.svc.cluster.local:9000"})
    isvc = build_inference_service(
        _resolved(),
        family=FAMILY,
        cluster=cluster,
        gpu=True,
        min_replicas=1,
        max_replicas=4,
        scale_target=16,
        canary_percent=10,
        logger_url=SINK,
        settings=settings,
        batching=BatchPolicy(max_batch_size=16, max_wait_ms=2.5),
    )
    got = _round_trip(isvc)
    assert (got["apiVersion"], got["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    meta = got["metadata"]
    assert (meta["name"], meta["namespace"]) == ("hearing-loss", cluster.serving_namespace)
    assert meta["labels"]["affectops.io/family"] == FAMILY
    assert meta["labels"]["affectops.io/model-version"] == "3"
    assert meta["annotations"]["affectops.io/model-ref"] == f"models:/{FAMILY}@challenger"
    assert meta["annotations"]["affectops.io/model-uri"] == f"models:/{FAMILY}/3"
    predictor = got["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert container["image"] == cluster.image and container["image"].endswith(":0.1.0")
    assert container["command"] == ["python", "-m", "serving"]
    assert container["args"] == [
        "--family",
        FAMILY,
        "--model-uri",
        S3_URI,
        "--model-name",
        "hearing-loss",
        "--host",
        "0.0.0.0",
        "--http-port",
        "8080",
        "--max-batch-size",
        "16",
        "--max-batch-wait-ms",
        "2.5",
    ]
    # the platform image's entry point parses them: its parser runs, the server start is recorded
    import serving.__main__ as entry

    started: dict = {}

    def record(family: str, uri: str, **options) -> None:
        started.update(family=family, uri=uri, **options)

    monkeypatch.setattr(entry, "serve", record)
    entry.main(container["args"])
    assert (started["family"], started["uri"], started["name"]) == (FAMILY, S3_URI, "hearing-loss")
    assert (started["host"], started["http_port"]) == ("0.0.0.0", 8080)
    assert started["batching"] == BatchPolicy(max_batch_size=16, max_wait_ms=2.5)
    env = {e["name"]: e for e in container["env"]}
    assert env["AFFECTOPS_S3_ENDPOINT_URL"]["value"] == settings.s3_endpoint_url
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": cluster.s3_secret,
        "key": "access-key-id",
    }
    assert "value" not in env["AWS_SECRET_ACCESS_KEY"]  # credentials only by reference
    gpu = cluster.gpu_resource
    assert container["resources"]["limits"][gpu] == container["resources"]["requests"][gpu] == "1"
    assert container["resources"]["limits"]["memory"] == cluster.gpu.limits["memory"]
    assert predictor["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert predictor["tolerations"] == [{"key": gpu, "operator": "Exists", "effect": "NoSchedule"}]
    assert predictor["priorityClassName"] == "affectops-gpu"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 4)
    assert (predictor["scaleTarget"], predictor["scaleMetric"]) == (16, "concurrency")
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["logger"] == {"mode": "all", "url": SINK}
    assert predictor["serviceAccountName"] == "affectops-predictor"
    assert predictor["automountServiceAccountToken"] is False
    pod_sc, sc = predictor["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    # the read-only root needs a bounded scratch /tmp (the image's HOME and cache)
    assert container["volumeMounts"] == [{"mountPath": "/tmp", "name": "tmp"}]
    assert predictor["volumes"] == [{"emptyDir": {"sizeLimit": "2Gi"}, "name": "tmp"}]


@pytest.mark.parametrize(("version", "champion"), [(3, 3), (3, None)])
def test_no_canary_unless_a_champion_is_replaced(version: int, champion: int | None) -> None:
    isvc = build_inference_service(
        _resolved(version, champion), family=FAMILY, cluster=load_cluster(), canary_percent=10
    )
    assert "canaryTrafficPercent" not in _round_trip(isvc)["spec"]["predictor"]


def test_cpu_predictor_stays_off_the_gpu_pool_and_logs_nothing_unasked() -> None:
    cluster = load_cluster("self-hosted")
    got = _round_trip(build_inference_service(_resolved(), family=FAMILY, cluster=cluster))
    predictor = got["spec"]["predictor"]
    for key in ("nodeSelector", "tolerations", "priorityClassName", "logger", "canaryTrafficPercent"):
        assert key not in predictor, key
    resources = predictor["containers"][0]["resources"]
    assert resources == {"requests": cluster.cpu.requests, "limits": cluster.cpu.limits}
    assert got["metadata"]["namespace"] == "affectops-serving"


def test_torchserve_uses_the_pytorch_format_on_its_runtime() -> None:
    cluster = load_cluster()
    mar = "s3://affectops/serving/hearing_loss/3"
    isvc = build_inference_service(
        _resolved(), family=FAMILY, cluster=cluster, runtime="torchserve", model_storage_uri=mar, gpu=True
    )
    predictor = _round_trip(isvc)["spec"]["predictor"]
    assert "containers" not in predictor and "volumes" not in predictor
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "pytorch"} and model["protocolVersion"] == "v2"
    assert (model["storageUri"], model["runtime"]) == (mar, "affectops-torchserve")
    assert model["securityContext"]["runAsUser"] == predictor["securityContext"]["runAsUser"] == 1000
    assert model["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert model["resources"]["limits"][cluster.gpu_resource] == "1"
    assert predictor["priorityClassName"] == cluster.priority_class


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Hearing_Loss"}, "name: 'Hearing_Loss' is not a DNS-1035 label"),
        ({"runtime": "triton"}, "runtime: 'triton' is not one of kserve, torchserve"),
        ({"min_replicas": -1}, "min_replicas: -1 is negative"),
        ({"min_replicas": 3, "max_replicas": 2}, "max_replicas: 2 is below min_replicas 3"),
        ({"scale_target": 0}, "scale_target: 0 concurrent requests"),
        ({"canary_percent": 100}, "canary_percent: 100 must be between 1 and 99"),
        ({"logger_url": "sink:8090"}, "logger_url: 'sink:8090' is not an http(s) URL"),
        ({"model_storage_uri": "file:///tmp/model"}, "storage_uri: 'file:///tmp/model' cannot be read"),
        ({"family": "nope"}, "unknown family 'nope'"),
    ],
)
def test_bad_deploy_settings_are_named(changes: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        build_inference_service(_resolved(), cluster=load_cluster(), **{"family": FAMILY, **changes})
    assert message in str(err.value)


def test_strict_reading_rejects_misspelt_and_mistyped_fields() -> None:
    text = to_yaml(build_inference_service(_resolved(), family=FAMILY, cluster=load_cluster()))
    with pytest.raises(ValueError, match=r"spec\.predictor: unknown field\(s\) \['minReplica'\]"):
        load_inference_service(text.replace("minReplicas:", "minReplica:"))
    with pytest.raises(ValueError, match=r"spec\.predictor\.maxReplicas: expected int, got '3'"):
        load_inference_service(text.replace("maxReplicas: 3", "maxReplicas: '3'"))
    with pytest.raises(ValueError, match="not an InferenceService"):
        load_inference_service("kind: Deployment\n")


def test_deploy_writes_the_yaml_without_applying(tmp_path: Path) -> None:
    isvc = build_inference_service(_resolved(), family=FAMILY, cluster=load_cluster())
    out = tmp_path / "isvc" / "hearing-loss.yaml"
    text = deploy(isvc, apply=False, out=out)
    assert out.read_text() == text == to_yaml(isvc)
    assert to_dict(load_inference_service(text)) == to_dict(isvc)
