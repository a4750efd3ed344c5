"""Runtime 2: the .mar in KServe's pytorch-runtime layout, served by the real TorchServe on loopback."""

from __future__ import annotations

import asyncio
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
from serving import v2
from serving.core import Predictor, content_version
from serving.torchserve.package import build_model_store
from serving.torchserve.server import ServerInfo, running_torchserve

pytestmark = pytest.mark.integration

FAMILY = "hearing_loss"
NAME = "hl"
CONFIG = get_family("hearing_loss").train.tiny()
TENSORS = get_family(FAMILY).serve.example(CONFIG)
BATCH_SIZE = 8


@pytest.fixture(scope="module")
def model_path(trained_tiny) -> Path:
    return trained_tiny(CONFIG)


@pytest.fixture(scope="module")
def store(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("torchserve-store")
    settings = load_settings({"AFFECTOPS_HOME": str(out / "home")})
    return build_model_store(
        FAMILY,
        str(model_path),
        out / "store",
        settings=settings,
        model_name=NAME,
        batch_size=BATCH_SIZE,
        max_batch_delay_ms=50,  # long enough that requests sent together on a busy machine share a batch
    )


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
    assert "service_envelope" not in properties  # the handler is its own v2 envelope
    assert properties["disable_token_authorization"] == "false"
    assert properties["model_store"] == "/mnt/models/model-store"
    for api in ("inference_address", "management_address", "metrics_address"):
        assert properties[api].startswith("http://127.0.0.1:"), properties[api]
    snapshot = json.loads(properties["model_snapshot"])
    entry = snapshot["models"][NAME][version]
    assert entry["marName"] == f"{NAME}.mar"
    assert (entry["batchSize"], entry["maxBatchDelay"]) == (BATCH_SIZE, 50)  # TorchServe's batching on

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
    assert body["parameters"] == metadata  # the metadata comes back with the response
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


def test_a_body_whose_data_does_not_fill_its_shape_is_a_400(server: ServerInfo) -> None:
    body = _v2_body(TENSORS)
    body["inputs"][1]["data"] = body["inputs"][1]["data"][:100]
    response = _infer(server, body)
    assert response.status_code == 400, response.text
    assert "anchor: data has 100 values but shape [150, 384]" in response.json()["message"], response.text


def test_v2_binary_request_and_binary_outputs(server: ServerInfo, model_path: Path, tmp_path: Path) -> None:
    expected = Predictor.from_uri(FAMILY, model_path, load_settings({"AFFECTOPS_HOME": str(tmp_path)}))
    tensors = [v2.Tensor(name, "FP32", value.shape, value) for name, value in TENSORS.items()]
    body, header = v2.encode(
        {"id": "bin-1", "parameters": {"binary_data_output": True}}, "inputs", tensors, True
    )
    response = httpx.post(
        f"{server.inference_url}/v2/models/{server.model_name}/infer",
        content=body,
        headers={
            "Authorization": f"Bearer {server.inference_token}",
            "Content-Type": "application/octet-stream",
            v2.HEADER_LENGTH: str(header),
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    document, outputs = v2.decode_response(response.content, response.headers[v2.HEADER_LENGTH])
    assert document["id"] == "bin-1"
    got = {t.name: t.data for t in outputs}
    for name, value in expected.predict(TENSORS).items():
        np.testing.assert_allclose(got[name].reshape(value.shape), value, atol=1e-5, err_msg=name)


def test_concurrent_mixed_length_requests_each_get_their_own_answer(
    server: ServerInfo, model_path: Path, tmp_path: Path
) -> None:
    """Requests of 1-200 frames sent together (TorchServe batches them): each answer is the in-process
    one with its own id and metadata; a malformed one among them gets its 400 alone."""
    expected = Predictor.from_uri(FAMILY, model_path, load_settings({"AFFECTOPS_HOME": str(tmp_path)}))
    examples = [
        get_family(FAMILY).serve.example(CONFIG, seed=i, frames=n) for i, n in enumerate((150, 8, 200, 1))
    ]
    bodies = [
        _v2_body(t, id=f"c-{i}", parameters={"request_id": f"c-{i}", "subject_pseudonym": f"s{i}"})
        for i, t in enumerate(examples)
    ]
    bodies.insert(1, _v2_body({**examples[0], "anchor": np.full((3, 384), np.nan, np.float32)}))
    headers = {"Authorization": f"Bearer {server.inference_token}", "Content-Type": "application/json"}

    async def together():
        async with httpx.AsyncClient(timeout=60, headers=headers) as client:
            url = f"{server.inference_url}/v2/models/{server.model_name}/infer"
            return await asyncio.gather(*(client.post(url, content=json.dumps(b)) for b in bodies))

    responses = asyncio.run(together())
    bad = responses.pop(1)
    assert bad.status_code == 400 and "anchor: contains NaN" in bad.json()["message"], bad.text
    for i, (response, tensors) in enumerate(zip(responses, examples, strict=True)):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == f"c-{i}" and body["parameters"]["subject_pseudonym"] == f"s{i}"
        outputs = {out["name"]: out["data"] for out in body["outputs"]}
        for name, value in expected.predict(tensors).items():
            np.testing.assert_allclose(np.asarray(outputs[name]).reshape(value.shape), value, atol=1e-5)


def test_torchserve_loaded_the_model_with_its_batching(server: ServerInfo) -> None:
    headers = {"Authorization": f"Bearer {server.management_token}"}
    (described,) = httpx.get(f"{server.management_url}/models/{NAME}", headers=headers, timeout=10).json()
    assert (described["batchSize"], described["maxBatchDelay"]) == (BATCH_SIZE, 50)


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
