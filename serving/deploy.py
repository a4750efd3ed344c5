"""The deploy step: resolve a registry reference to its artifact and build a KServe InferenceService.

KServe cannot resolve MLflow aliases, so this is the glue: ``models:/NAME@ALIAS`` (or ``/VERSION``)
-> version, run and the artifact's storage URI -> a ``V1beta1InferenceService`` built with the kserve
SDK types, written as YAML or applied. Scheduling, image and resources come from the cluster profile
(``pipelines/configs/cluster.yaml``), passed in by the caller as a ``ServingCluster`` (what this step
reads of it), so serving never imports pipelines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

import yaml
from kserve import ApiClient
from kserve.models import (
    V1beta1InferenceService,
    V1beta1InferenceServiceSpec,
    V1beta1LoggerSpec,
    V1beta1ModelFormat,
    V1beta1ModelSpec,
    V1beta1PredictorSpec,
    V1beta1TransformerSpec,
)
from kubernetes.client import (
    V1Capabilities,
    V1Container,
    V1ContainerPort,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1EnvVarSource,
    V1ObjectMeta,
    V1PodSecurityContext,
    V1ResourceRequirements,
    V1SeccompProfile,
    V1SecretKeySelector,
    V1SecurityContext,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)

from core import registry
from core.registry import CHAMPION
from core.settings import Settings
from models import get_family
from serving.batching import BatchPolicy

API_VERSION = "serving.kserve.io/v1beta1"
CONTAINER = "kserve-container"  # the name KServe gives the serving container
HTTP_PORT = 8080  # kserve.ModelServer's default --http_port; the NetworkPolicies open it
RUN_AS = 10001  # the platform image's user (docker/platform.Dockerfile)
TORCHSERVE_USER = 1000  # model-server, the user of KServe's TorchServe image
TMP = "/tmp"  # the image's HOME and working directory: the one writable path
LABEL_FAMILY = "affectops.io/family"
LABEL_VERSION = "affectops.io/model-version"
ANNOTATION_REF = "affectops.io/model-ref"
ANNOTATION_RESOLVED = "affectops.io/model-uri"
ANNOTATION_RUN = "affectops.io/run-id"
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_STORAGE_SCHEMES = ("s3",)  # what both the platform image (core.storage) and KServe can read

Runtime = Literal["kserve", "torchserve"]


class Resources(Protocol):
    @property
    def requests(self) -> Mapping[str, str]: ...

    @property
    def limits(self) -> Mapping[str, str]: ...


class ServingCluster(Protocol):
    """What the deploy step reads of a cluster profile: ``pipelines.cluster.ClusterConfig`` has it all.

    The caller loads the profile and passes it in, so serving imports nothing from pipelines.
    """

    @property
    def image(self) -> str: ...

    @property
    def cpu(self) -> Resources: ...

    @property
    def gpu(self) -> Resources: ...

    @property
    def gpu_node_selector(self) -> Mapping[str, str]: ...

    @property
    def gpu_tolerations(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def priority_class(self) -> str: ...

    @property
    def s3_secret(self) -> str: ...

    @property
    def serving_namespace(self) -> str: ...

    @property
    def predictor_service_account(self) -> str: ...

    @property
    def serving_runtimes(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class ResolvedModel:
    ref: str  # what was asked for: models:/NAME@ALIAS or models:/NAME/VERSION
    name: str
    version: int
    run_id: str
    storage_uri: str  # the logged pyfunc's model directory
    champion: int | None  # the version holding `champion` when resolved (the one a deploy replaces)

    @property
    def replaces_champion(self) -> bool:
        """True when serving this version replaces another champion: the case for a canary."""
        return self.champion is not None and self.champion != self.version


def resolve_model(ref: str, settings: Settings, *, artifacts_destination: str | None = None) -> ResolvedModel:
    """Resolve a registry reference with the MLflow client.

    ``artifacts_destination`` is the MLflow server's ``--artifacts-destination`` (the cluster profile's
    ``mlflow_artifacts``): a server that proxies artifacts hands out ``mlflow-artifacts:/`` URIs, which
    KServe cannot read, so they are mapped onto it.
    """
    from mlflow.exceptions import MlflowException

    try:
        parsed = registry.parse_ref(ref)
    except ValueError as err:
        raise ValueError(f"model ref {err}") from None
    name = parsed.name
    client = registry.client(settings)
    try:
        registered = client.get_registered_model(name)
    except MlflowException as err:
        raise ValueError(f"model ref {ref!r}: no registered model {name!r} ({err.message})") from None
    try:
        if parsed.alias:
            found = client.get_model_version_by_alias(name, parsed.alias)
        else:
            found = client.get_model_version(name, str(parsed.version))
        download_uri = client.get_model_version_download_uri(name, found.version)
    except MlflowException as err:
        what = f"alias {parsed.alias!r}" if parsed.alias else f"version {parsed.version}"
        raise ValueError(f"model ref {ref!r}: {name!r} has no {what} ({err.message})") from None
    champion = registered.aliases.get(CHAMPION)
    return ResolvedModel(
        ref=ref,
        name=name,
        version=int(found.version),
        run_id=found.run_id,
        storage_uri=storage_uri(download_uri, artifacts_destination),
        champion=int(champion) if champion is not None else None,
    )


def storage_uri(download_uri: str, artifacts_destination: str | None = None) -> str:
    """The object-store URI behind an MLflow artifact URI (``mlflow-artifacts:`` mapped, others as is)."""
    parsed = urlparse(download_uri)
    if parsed.scheme != "mlflow-artifacts":
        return download_uri
    if not artifacts_destination:
        raise ValueError(
            f"artifacts_destination: needed to map {download_uri} (the MLflow server proxies artifacts) "
            "onto its store; pass the cluster profile's mlflow_artifacts"
        )
    return f"{artifacts_destination.rstrip('/')}/{parsed.path.lstrip('/')}"


def build_inference_service(
    resolved: ResolvedModel,
    *,
    family: str,
    cluster: ServingCluster,
    runtime: Runtime = "kserve",
    name: str | None = None,
    namespace: str | None = None,
    gpu: bool = False,
    min_replicas: int = 1,
    max_replicas: int = 3,
    scale_target: int = 8,
    canary_percent: int | None = None,
    logger_url: str | None = None,
    service_account: str | None = None,
    settings: Settings | None = None,
    model_storage_uri: str | None = None,
    video_encoder_weights: str | None = None,
    batching: BatchPolicy | None = None,
) -> V1beta1InferenceService:
    """One InferenceService serving ``resolved`` for ``family``.

    ``runtime="kserve"``: the platform image's ``python -m serving`` as a custom container reading the
    artifact from S3 itself. ``runtime="torchserve"``: KServe's pytorch model format on the profile's
    TorchServe ServingRuntime; ``model_storage_uri`` must then hold the packaged ``.mar`` layout
    (``config/config.properties`` + ``model-store/``), not the pyfunc directory. ``settings`` supplies
    the S3 endpoint the custom container needs (MinIO); ``canary_percent`` applies only when the version
    replaces another champion (canary rollouts need KServe's Serverless mode). ``video_encoder_weights``
    (s3:// weights of the family's raw-media preprocessor) adds the raw-media transformer in front of
    the predictor.
    """
    spec = get_family(family)  # an unknown family fails here, naming the known ones
    if video_encoder_weights is not None and spec.serve.media is None:
        raise ValueError(
            f"video_encoder_weights: family {family!r} has no raw-media preprocessing, so no transformer"
        )
    name = name or family.replace("_", "-")
    _check(name, runtime, min_replicas, max_replicas, scale_target, canary_percent, logger_url)
    uri = model_storage_uri or resolved.storage_uri
    if urlparse(uri).scheme not in _STORAGE_SCHEMES:
        raise ValueError(
            f"storage_uri: {uri!r} cannot be read from the cluster; expected {' or '.join(_STORAGE_SCHEMES)}://"
            " (log models to the MLflow server's object store)"
        )
    resources = cluster.gpu if gpu else cluster.cpu
    user = RUN_AS if runtime == "kserve" else TORCHSERVE_USER
    requirements = V1ResourceRequirements(requests=dict(resources.requests), limits=dict(resources.limits))
    predictor = V1beta1PredictorSpec(
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        scale_target=scale_target,
        scale_metric="concurrency",
        service_account_name=service_account or cluster.predictor_service_account,
        automount_service_account_token=False,
        security_context=V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=user,
            run_as_group=user,
            fs_group=user,
            seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
        ),
    )
    if runtime == "kserve":
        predictor.containers = [
            _platform_container(family, name, uri, cluster, requirements, settings, batching)
        ]
        predictor.volumes = [V1Volume(name="tmp", empty_dir=V1EmptyDirVolumeSource(size_limit="2Gi"))]
    else:
        # The ServingRuntime brings TorchServe's writable volumes; declaring them here would duplicate them.
        predictor.model = V1beta1ModelSpec(
            name=CONTAINER,
            model_format=V1beta1ModelFormat(name="pytorch"),
            protocol_version="v2",
            runtime=cluster.serving_runtimes["torchserve"],
            storage_uri=uri,
            resources=requirements,
            security_context=_locked_down(user),
        )
    if gpu:
        predictor.node_selector = dict(cluster.gpu_node_selector)
        predictor.tolerations = [V1Toleration(**_snake(t)) for t in cluster.gpu_tolerations]
        predictor.priority_class_name = cluster.priority_class
    if canary_percent is not None and resolved.replaces_champion:
        predictor.canary_traffic_percent = canary_percent
    if logger_url:
        predictor.logger = V1beta1LoggerSpec(mode="all", url=logger_url)
    transformer = None
    if video_encoder_weights is not None:
        transformer = _media_transformer(name, video_encoder_weights, cluster, settings, predictor)
    return V1beta1InferenceService(
        api_version=API_VERSION,
        kind="InferenceService",
        metadata=V1ObjectMeta(
            name=name,
            namespace=namespace or cluster.serving_namespace,
            labels={
                "app.kubernetes.io/part-of": "affectops",
                LABEL_FAMILY: family,
                LABEL_VERSION: str(resolved.version),
            },
            annotations={
                ANNOTATION_REF: resolved.ref,
                ANNOTATION_RESOLVED: registry.version_uri(resolved.name, resolved.version),
                ANNOTATION_RUN: resolved.run_id,
            },
        ),
        spec=V1beta1InferenceServiceSpec(predictor=predictor, transformer=transformer),
    )


def _check(
    name: str,
    runtime: str,
    min_replicas: int,
    max_replicas: int,
    scale_target: int,
    canary_percent: int | None,
    logger_url: str | None,
) -> None:
    if not _DNS_LABEL.match(name) or len(name) > 63:
        raise ValueError(f"name: {name!r} is not a DNS-1035 label (lowercase letters, digits, '-', <= 63)")
    if runtime not in ("kserve", "torchserve"):
        raise ValueError(f"runtime: {runtime!r} is not one of kserve, torchserve")
    if min_replicas < 0:
        raise ValueError(f"min_replicas: {min_replicas} is negative")
    if max_replicas < max(min_replicas, 1):
        raise ValueError(f"max_replicas: {max_replicas} is below min_replicas {min_replicas} (or 1)")
    if scale_target < 1:
        raise ValueError(f"scale_target: {scale_target} concurrent requests per replica must be >= 1")
    if canary_percent is not None and not 0 < canary_percent < 100:
        raise ValueError(f"canary_percent: {canary_percent} must be between 1 and 99")
    if logger_url is not None and urlparse(logger_url).scheme not in ("http", "https"):
        raise ValueError(f"logger_url: {logger_url!r} is not an http(s) URL")


def _platform_container(
    family: str,
    name: str,
    uri: str,
    cluster: ServingCluster,
    requirements: V1ResourceRequirements,
    settings: Settings | None,
    batching: BatchPolicy | None = None,
) -> V1Container:
    # The custom container reads the artifact itself (serving.core materializes s3:// URIs), so it
    # needs the S3 endpoint and the credentials Secret; the Secret must exist in the serving namespace.
    batching = batching or BatchPolicy()
    env = [V1EnvVar(name="AFFECTOPS_HOME", value=f"{TMP}/affectops")]
    if settings and settings.s3_endpoint_url:
        env.append(V1EnvVar(name="AFFECTOPS_S3_ENDPOINT_URL", value=settings.s3_endpoint_url))
    for key, var in (("access-key-id", "AWS_ACCESS_KEY_ID"), ("secret-access-key", "AWS_SECRET_ACCESS_KEY")):
        secret = V1SecretKeySelector(name=cluster.s3_secret, key=key)
        env.append(V1EnvVar(name=var, value_from=V1EnvVarSource(secret_key_ref=secret)))
    return V1Container(
        name=CONTAINER,
        image=cluster.image,
        command=["python", "-m", "serving"],
        # all interfaces: python -m serving binds loopback by default, which the kubelet's probes and a
        # RawDeployment Service cannot reach
        args=[
            *("--family", family, "--model-uri", uri, "--model-name", name),
            *("--host", "0.0.0.0", "--http-port", str(HTTP_PORT)),
            *("--max-batch-size", str(batching.max_batch_size)),
            *("--max-batch-wait-ms", f"{batching.max_wait_ms:g}"),
        ],
        env=env,
        ports=[V1ContainerPort(name="http1", container_port=HTTP_PORT, protocol="TCP")],
        resources=requirements,
        security_context=_locked_down(RUN_AS),
        volume_mounts=[V1VolumeMount(name="tmp", mount_path=TMP)],
    )


def _media_transformer(
    name: str,
    weights: str,
    cluster: ServingCluster,
    settings: Settings | None,
    predictor: V1beta1PredictorSpec,
) -> V1beta1TransformerSpec:
    """serving/transformer_server.py on the platform image: raw media -> the family's preprocessing ->
    the predictor. KServe appends ``--model_name`` and ``--predictor_host`` to its arguments itself."""
    if urlparse(weights).scheme not in _STORAGE_SCHEMES:
        raise ValueError(
            f"video_encoder_weights: {weights!r} cannot be read from the cluster; expected s3://"
        )
    container = _platform_container("", name, weights, cluster, _requirements(cluster), settings)
    container.command = ["python", "-m", "serving.transformer_server"]
    container.args = [
        *("--model-name", name, "--encoder-weights", weights),
        *("--host", "0.0.0.0", "--http-port", str(HTTP_PORT)),
    ]
    return V1beta1TransformerSpec(
        containers=[container],
        volumes=[V1Volume(name="tmp", empty_dir=V1EmptyDirVolumeSource(size_limit="2Gi"))],
        service_account_name=predictor.service_account_name,
        automount_service_account_token=False,
        security_context=predictor.security_context,
        min_replicas=predictor.min_replicas,
        max_replicas=predictor.max_replicas,
    )


def _requirements(cluster: ServingCluster) -> V1ResourceRequirements:
    # the transformer preprocesses raw media (e.g. face alignment, an encoder) on CPU: the CPU pool's requests
    return V1ResourceRequirements(requests=dict(cluster.cpu.requests), limits=dict(cluster.cpu.limits))


def _locked_down(user: int) -> V1SecurityContext:
    """What k8s/ requires of every container (tests/k8s/test_k8s_security.py)."""
    return V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=user,
        capabilities=V1Capabilities(drop=["ALL"]),
        seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
    )


def _snake(spec: dict[str, Any]) -> dict[str, Any]:
    """cluster.yaml's camelCase keys (tolerationSeconds) -> the SDK's constructor arguments."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in spec.items()}


def to_dict(obj: Any) -> dict[str, Any]:
    """An SDK object as the plain dict the Kubernetes API takes (camelCase, no None fields)."""
    return ApiClient().sanitize_for_serialization(obj)


def to_yaml(isvc: V1beta1InferenceService) -> str:
    return yaml.safe_dump(to_dict(isvc), sort_keys=False)


def from_dict(data: Any, type_name: str, path: str = "") -> Any:
    """Deserialize ``data`` into the kserve / kubernetes SDK type ``type_name``, strictly.

    kserve's own ``ApiClient.deserialize`` cannot find the Kubernetes types it nests (V1ObjectMeta,
    V1Container) and, like the Kubernetes one, drops unknown fields silently; this fails on them,
    naming the path, so a misspelt field cannot round-trip unnoticed.
    """
    import kserve.models
    import kubernetes.client.models

    where = path or type_name
    if data is None:
        return None
    if inner := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {type(data).__name__}")
        return [from_dict(item, inner[1], f"{where}[{i}]") for i, item in enumerate(data)]
    if inner := re.fullmatch(r"dict\(([^,]+), (.+)\)", type_name):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
        return {key: from_dict(value, inner[2], f"{where}.{key}") for key, value in data.items()}
    primitive = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if type_name == "object":
        return data
    if type_name in primitive:
        # bool is an int in Python: keep true/false out of integer fields and vice versa
        if not isinstance(data, primitive[type_name]) or (type_name == "int" and isinstance(data, bool)):
            raise ValueError(f"{where}: expected {type_name}, got {data!r}")
        return data
    klass = getattr(kserve.models, type_name, None) or getattr(kubernetes.client.models, type_name)
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a {type_name} mapping, got {type(data).__name__}")
    known = set(klass.attribute_map.values())
    if unknown := sorted(set(data) - known):
        raise ValueError(f"{where}: unknown field(s) {unknown} for {type_name}")
    kwargs = {
        attr: from_dict(data[key], klass.openapi_types[attr], f"{where}.{key}")
        for attr, key in klass.attribute_map.items()
        if key in data
    }
    try:
        return klass(**kwargs)
    except ValueError as err:  # the SDK's own required-field checks
        raise ValueError(f"{where}: {err}") from None


def load_inference_service(text: str) -> V1beta1InferenceService:
    """YAML of one InferenceService -> the SDK object (strict, see ``from_dict``)."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or data.get("kind") != "InferenceService":
        raise ValueError("not an InferenceService manifest")
    return from_dict(data, "V1beta1InferenceService")


def deploy(isvc: V1beta1InferenceService, *, apply: bool = False, out: Path | None = None) -> str:
    """Write the YAML to ``out`` and, with ``apply``, create or patch the InferenceService through the
    cluster's API (kubeconfig, or the pod's ServiceAccount in-cluster). Returns the YAML.

    Applying needs a Kubernetes API server with KServe: not exercised in the tests.
    """
    text = to_yaml(isvc)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    if apply:
        from kserve import KServeClient

        client = KServeClient()
        name, namespace = isvc.metadata.name, isvc.metadata.namespace
        try:
            client.get(name, namespace=namespace)
        except RuntimeError:  # KServeClient wraps every API error, a 404 included, in RuntimeError
            client.create(isvc, namespace=namespace)
        else:
            client.patch(name, isvc, namespace=namespace)
    return text
