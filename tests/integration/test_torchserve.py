"""Runtime 2: the .mar in KServe's pytorch-runtime layout, served by the real TorchServe on loopback."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from core.settings import load_settings
from models import get_family
from serving.core import Predictor, content_version
from serving.torchserve.package import build_model_store
from serving.torchserve.server import ServerInfo, running_torchserve

pytestmark = pytest.mark.integration

FAMILY = "hearing_loss"
NAME = "hl"
CONFIG = get_family("hearing_loss").train.tiny()
TENSORS = get_family(FAMILY).serve.example(CONFIG)


@pytest.fixture(scope="module")
def model_path(trained_tiny) -> Path:
    return trained_tiny(CONFIG)


@pytest.fixture(scope="module")
def store(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("torchserve-store")
    settings = load_settings({"AFFECTOPS_HOME": str(out / "home")})
    return build_model_store(FAMILY, str(model_path), out / "store", settings=settings, model_name=NAME)


@pytest.fixture(scope="module")
def server(store: Path, free_port) -> Iterator[ServerInfo]:
    if shutil.which("java") is None:
        pytest.skip("TorchServe's frontend is a Java program and no java is on PATH")
    ports = {"inference_port": free_port(), "management_port": free_port(), "metrics_port": free_port()}
    with running_torchserve(store, **ports) as info:
        yield info


def _v2_body(tensors: dict[str, np.ndarray], **extra) -> dict:
    inputs = [
        {"name": name, "shape": list(value.shape), "datatype": "FP32", "data": value.ravel().tolist()}
        for name, value in tensors.items()
    ]
    return {"inputs": inputs, **extra}


def _infer(info: ServerInfo, body: dict) -> httpx.Response:
    return httpx.post(
        f"{info.inference_url}/v2/models/{info.model_name}/infer",
        content=json.dumps(
            body
        ),  # non-finite floats as the Infinity / NaN literals numpy-minded clients send
        headers={"Authorization": f"Bearer {info.inference_token}", "Content-Type": "application/json"},
        timeout=30,
    )


def test_store_has_kserves_layout_and_the_mar_ships_the_artifact_and_handler(
    store: Path, model_path: Path
) -> None:
    assert sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file()) == [
        "config/config.properties",
        f"model-store/{NAME}.mar",
    ]
    properties = dict(
        line.split("=", 1) for line in (store / "config/config.properties").read_text().splitlines()
    )
    version = content_version(model_path)
    assert properties["service_envelope"] == "kservev2"
    assert properties["disable_token_authorization"] == "false"
    assert properties["model_store"] == "/mnt/models/model-store"
    for api in ("inference_address", "management_address", "metrics_address"):
        assert properties[api].startswith("http://127.0.0.1:"), properties[api]
    snapshot = json.loads(properties["model_snapshot"])
    assert snapshot["models"][NAME][version]["marName"] == f"{NAME}.mar"

    with zipfile.ZipFile(store / "model-store" / f"{NAME}.mar") as mar:
        assert sorted(mar.namelist()) == [
            "MAR-INF/MANIFEST.json",
            "affectops-serving.json",
            "handler.py",
            "model.pt",
        ]
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]
        assert manifest == {
            "modelName": NAME,
            "modelVersion": version,
            "serializedFile": "model.pt",
            "handler": "handler.py",
        }
        assert mar.read("model.pt") == model_path.read_bytes()
        assert json.loads(mar.read("affectops-serving.json")) == {"family": FAMILY}


def test_bad_arguments_are_refused_naming_the_field(model_path: Path, tmp_path: Path) -> None:
    settings = load_settings({"AFFECTOPS_HOME": str(tmp_path / "home")})
    with pytest.raises(ValueError, match="model_name"):
        build_model_store(FAMILY, str(model_path), tmp_path, settings=settings, model_name="hl/v1")
    with pytest.raises(FileNotFoundError, match="model_uri"):
        build_model_store(FAMILY, str(tmp_path / "missing.pt"), tmp_path, settings=settings)
    assert not (tmp_path / "model-store").exists()


def test_registry_reference_archives_the_registered_version(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.registry import log_and_register

    monkeypatch.setenv("AFFECTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    info = log_and_register(FAMILY, model_path, {"f1": 0.5}, settings=settings)
    out = build_model_store(FAMILY, f"models:/{FAMILY}@challenger", tmp_path / "store", settings=settings)
    with zipfile.ZipFile(out / "model-store" / f"{FAMILY}.mar") as mar:
        assert json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]["modelVersion"] == str(info.version)
        assert mar.read("model.pt") == model_path.read_bytes()


def test_v2_infer_equals_the_in_process_predictor(
    server: ServerInfo, model_path: Path, tmp_path: Path
) -> None:
    expected = Predictor.from_uri(FAMILY, model_path, load_settings({"AFFECTOPS_HOME": str(tmp_path)}))
    metadata = {"request_id": "r-7", "subject_pseudonym": "s9", "age": 70, "gender": "m"}
    response = _infer(server, _v2_body(TENSORS, id="r-7", parameters=metadata))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "r-7"  # what the inference log joins the request's metadata on
    assert body["model_name"] == NAME
    assert body["model_version"] == expected.model_version == content_version(model_path)
    outputs = {out["name"]: out for out in body["outputs"]}
    want = expected.predict(TENSORS)
    assert sorted(outputs) == sorted(want) == ["age_estimate", "label", "probability", "threshold"]
    for name, value in want.items():
        got = np.asarray(outputs[name]["data"]).reshape(value.shape)
        np.testing.assert_allclose(got, value, atol=1e-5, err_msg=name)
    assert outputs["label"]["datatype"] == "INT64"
    assert outputs["probability"]["datatype"] == "FP32"


@pytest.mark.parametrize(
    ("tensors", "field"),
    [
        ({**TENSORS, "anchor": TENSORS["anchor"][:, :7]}, "anchor"),
        ({"current": TENSORS["current"]}, "anchor"),
        ({**TENSORS, "current": np.full((5, 384), np.inf, np.float32)}, "current"),
    ],
    ids=["wrong-shape", "missing", "inf"],
)
def test_bad_request_gets_a_4xx_naming_the_tensor_and_the_server_keeps_serving(
    server: ServerInfo, tensors: dict, field: str
) -> None:
    response = _infer(server, _v2_body(tensors))
    assert 400 <= response.status_code < 500, response.text
    assert field in response.json()["message"], response.text
    assert _infer(server, _v2_body(TENSORS)).status_code == 200


def test_apis_refuse_requests_without_the_token(server: ServerInfo) -> None:
    models = f"{server.management_url}/models"
    for url, token in ((models, None), (models, server.inference_token)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        refused = httpx.get(url, headers=headers, timeout=10)
        assert 400 <= refused.status_code < 500 and "Token Authorization failed" in refused.text
    listed = httpx.get(models, headers={"Authorization": f"Bearer {server.management_token}"}, timeout=10)
    assert [model["modelName"] for model in listed.json()["models"]] == [NAME]
    no_token = httpx.post(
        f"{server.inference_url}/v2/models/{NAME}/infer", json=_v2_body(TENSORS), timeout=10
    )
    assert 400 <= no_token.status_code < 500


def test_management_api_listens_on_loopback_only(server: ServerInfo) -> None:
    port = httpx.URL(server.management_url).port
    listening = [
        conn.laddr.ip
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    ]
    assert listening, f"nothing listens on management port {port}"
    for ip in listening:
        address = ipaddress.ip_address(ip)
        address = getattr(address, "ipv4_mapped", None) or address
        assert address.is_loopback, f"management API bound to {ip}"
    host_ip = _non_loopback_ip()
    if host_ip is not None:
        with socket.socket() as sock, pytest.raises(OSError):
            sock.settimeout(2)
            sock.connect((host_ip, port))


def _non_loopback_ip() -> str | None:
    """This host's outward IPv4 address (no packet is sent), or None on a loopback-only host."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: routing decides the source address
        except OSError:
            return None
        ip = sock.getsockname()[0]
    return None if ipaddress.ip_address(ip).is_loopback else ip
