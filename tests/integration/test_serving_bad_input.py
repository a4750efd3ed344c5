"""Bad requests to the real ModelServer on loopback: each a 4xx naming the field and the problem, and a
schema-driven fuzz of a few thousand mutated requests that must never get a 5xx."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models import get_family
from serving.core import max_body_bytes

pytestmark = pytest.mark.integration

FAMILY, NAME = "hearing_loss", "hl"
CONFIG = get_family("hearing_loss").train.tiny()
SCHEMA = get_family(FAMILY).serve.schema(CONFIG)
TENSORS = get_family(FAMILY).serve.example(CONFIG, frames=4)
V2, V1 = f"/v2/models/{NAME}/infer", f"/v1/models/{NAME}:predict"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(
    trained_tiny, tmp_path_factory: pytest.TempPathFactory, loopback_process, free_port
) -> Iterator[str]:
    http_port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "serving", "--family", FAMILY, "--model-uri", str(trained_tiny(CONFIG))]
    command += ["--model-name", NAME, "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "AFFECTOPS_HOME": str(log.parent / "home"), "OMP_NUM_THREADS": "1"}
    url = f"http://127.0.0.1:{http_port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/v2/models/{NAME}/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    with loopback_process(command, log, ready, env=env), httpx.Client(base_url=url, timeout=30) as client:
        yield client


def v2_json(tensors: dict, datatype: str = "FP32", **extra) -> bytes:
    inputs = [
        {"name": k, "shape": list(np.shape(v)), "datatype": datatype, "data": np.ravel(v).tolist()}
        for k, v in tensors.items()
    ]
    return json.dumps({"inputs": inputs, **extra}).encode()  # json writes NaN / Infinity literals


def v2_binary(tensors: dict, sizes: dict | None = None, tail: bytes = b"") -> tuple[bytes, dict]:
    """Header JSON + raw tensors; ``sizes`` overrides binary_data_size per tensor."""
    sizes = sizes or {}
    inputs = [
        {
            "name": k,
            "shape": list(v.shape),
            "datatype": "FP32",
            "parameters": {"binary_data_size": sizes.get(k, v.nbytes)},
        }
        for k, v in tensors.items()
    ]
    header = json.dumps({"inputs": inputs}).encode()
    body = header + b"".join(np.ascontiguousarray(v).tobytes() for v in tensors.values()) + tail
    return body, {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }


def v2_edited(edit: Callable[[dict], object]) -> tuple[bytes, dict]:
    """A valid v2 JSON request after ``edit`` changed its document in place."""
    document = json.loads(v2_json(TENSORS))
    edit(document)
    return json.dumps(document).encode(), JSON


def v1(instance: dict, **extra) -> bytes:
    values = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in instance.items()}
    return json.dumps({"instances": [values], **extra}).encode()


def with_header_length(value: str) -> tuple[bytes, dict]:
    body, headers = v2_binary(TENSORS)
    return body, {**headers, "inference-header-content-length": value}


T_MAX = SCHEMA.inputs[0].length[1]
NAN, INF = np.full((4, 384), np.nan, np.float32), np.full((4, 384), np.inf, np.float32)
# (id, path, body and headers, fragment the message must hold)
BAD: list[tuple[str, str, Callable[[], tuple[bytes, dict]], str]] = [
    (
        "v2-wrong-shape",
        V2,
        lambda: (v2_json({**TENSORS, "anchor": TENSORS["anchor"][:, :7]}), JSON),
        "anchor: dim 1",
    ),
    ("v2-wrong-dtype", V2, lambda: (v2_json(TENSORS, "FP64"), JSON), "dtype must be float32"),
    ("v2-nan", V2, lambda: (v2_json({**TENSORS, "current": NAN}), JSON), "current: contains nan"),
    ("v2-inf", V2, lambda: (v2_json({**TENSORS, "anchor": INF}), JSON), "anchor: contains nan or inf"),
    (
        "v2-overflow",
        V2,
        lambda: (v2_json({**TENSORS, "current": np.full((4, 384), 1e39)}), JSON),
        "current: contains",
    ),
    (
        "v2-t-too-long",
        V2,
        lambda: (v2_json({**TENSORS, "current": np.zeros((T_MAX + 1, 384))}), JSON),
        "[1, 600]",
    ),
    ("v2-t-zero", V2, lambda: (v2_json({**TENSORS, "current": np.zeros((0, 384))}), JSON), "[1, 600]"),
    (
        "v2-missing",
        V2,
        lambda: (v2_json({"current": TENSORS["current"]}), JSON),
        "missing input tensor(s): anchor",
    ),
    (
        "v2-unknown",
        V2,
        lambda: (v2_json({**TENSORS, "age": np.ones((1, 1))}), JSON),
        "unknown input tensor(s): age",
    ),
    ("v2-twice", V2, lambda: v2_edited(lambda d: d["inputs"].append(d["inputs"][0])), "more than once"),
    ("v2-malformed-json", V2, lambda: (b'{"inputs": [', JSON), "request body: malformed json"),
    ("v2-not-an-object", V2, lambda: (b"[1, 2]", JSON), "must be a json object"),
    (
        "v2-inputs-not-a-list",
        V2,
        lambda: (b'{"inputs": {"current": 1}}', JSON),
        "inputs: must be a non-empty list",
    ),
    (
        "v2-shape-not-ints",
        V2,
        lambda: v2_edited(lambda d: d["inputs"][0].update(shape=[4, "x"])),
        "shape must be",
    ),
    (
        "v2-size-mismatch",
        V2,
        lambda: v2_edited(lambda d: d["inputs"][0].update(shape=[5, 384])),
        "needs 1920",
    ),
    (
        "v2-strings",
        V2,
        lambda: v2_edited(lambda d: d["inputs"][1]["data"].__setitem__(0, "a")),
        "only numbers",
    ),
    ("v2-datatype", V2, lambda: (v2_json(TENSORS, "FP99"), JSON), "unsupported datatype 'fp99'"),
    ("v2-unknown-output", V2, lambda: (v2_json(TENSORS, outputs=[{"name": "x"}]), JSON), "output 'x'"),
    ("bin-length-garbage", V2, lambda: with_header_length("abc"), "inference-header-content-length: must be"),
    ("bin-length-past-body", V2, lambda: with_header_length("99999999"), "outside the body"),
    ("bin-length-too-short", V2, lambda: with_header_length("10"), "request json header: malformed json"),
    (
        "bin-size-vs-shape",
        V2,
        lambda: v2_binary(TENSORS, {"anchor": 12}),
        "anchor: binary_data_size 12 does not",
    ),
    ("bin-size-not-int", V2, lambda: v2_binary(TENSORS, {"anchor": "6144"}), "non-negative integer"),
    ("bin-trailing-bytes", V2, lambda: v2_binary(TENSORS, tail=b"\0" * 8), "binary data: 12296 bytes"),
    ("bin-truncated", V2, lambda: (v2_binary(TENSORS)[0][:-100], v2_binary(TENSORS)[1]), "runs past"),
    ("bin-nan", V2, lambda: v2_binary({**TENSORS, "current": NAN}), "current: contains nan"),
    ("v1-malformed-json", V1, lambda: (b'{"instances": [', JSON), "request body: malformed json"),
    ("v1-nan", V1, lambda: (v1({**TENSORS, "anchor": NAN}), JSON), "instances[0].anchor: contains nan"),
    (
        "v1-wrong-shape",
        V1,
        lambda: (v1({**TENSORS, "current": TENSORS["current"][:, :3]}), JSON),
        "instances[0].current",
    ),
    ("v1-ragged", V1, lambda: (v1({**TENSORS, "current": [[1.0], [1.0, 2.0]]}), JSON), "rectangular"),
    ("v1-no-instances", V1, lambda: (b'{"inputs": []}', JSON), "instances: must be"),
    ("v1-metadata", V1, lambda: (v1(TENSORS, metadata=[1]), JSON), "metadata: must be an object"),
    ("v1-unknown", V1, lambda: (v1({**TENSORS, "age": [[70.0]]}), JSON), "unknown input tensor(s): age"),
]


def _valid_request_still_answers(client: httpx.Client) -> None:
    response = client.post(V2, content=v2_json(TENSORS), headers=JSON)
    assert response.status_code == 200, response.text
    assert 0.0 <= response.json()["outputs"][0]["data"][0] <= 1.0


@pytest.mark.parametrize(
    ("path", "make", "fragment"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_request_gets_400_naming_the_field(server: httpx.Client, path: str, make, fragment: str) -> None:
    content, headers = make()
    response = server.post(path, content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"].lower(), response.text


def test_unknown_model_is_404(server: httpx.Client) -> None:
    response = server.post("/v2/models/nope/infer", content=v2_json(TENSORS), headers=JSON)
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


def test_oversized_body_is_refused_from_content_length_and_while_streaming(server: httpx.Client) -> None:
    limit = max_body_bytes(SCHEMA)  # the default: two [600, 384] float32 tensors as JSON text, with headroom
    response = server.post(V2, content=b" " * (limit + 1), headers=JSON)
    assert response.status_code == 413
    assert f"exceeds the limit of {limit} bytes" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        for _ in range(limit // (1 << 20) + 2):
            yield b" " * (1 << 20)

    response = server.post(V2, content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert f"the limit is {limit}" in response.json()["error"]
    _valid_request_still_answers(server)


# ---- schema-driven fuzz: valid requests built from the serving schema, then mutated -----------------

SPECS = {spec.name: spec for spec in SCHEMA.inputs}
_numbers = st.one_of(
    st.floats(width=32), st.integers(-(2**70), 2**70), st.booleans(), st.none(), st.text(max_size=3)
)
_json_values = st.recursive(
    st.one_of(_numbers, st.just([])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def tensors(draw) -> dict[str, np.ndarray]:
    """The schema's named inputs with a small T (0 is out of bounds), a fill (some not finite), a dtype."""
    out = {}
    for name, spec in SPECS.items():
        frames = draw(st.integers(0, 3))
        fill = draw(st.sampled_from([0.25, 0.25, -1.5, np.nan, np.inf, 1e39]))
        dtype = draw(st.sampled_from([np.float32, np.float32, np.float64]))
        with np.errstate(over="ignore"):  # 1e39 is meant to overflow float32 to inf
            out[name] = np.full((frames, spec.shape[1]), fill).astype(dtype)
    return out


def _mutate_document(draw, document: dict) -> dict:
    """One schema-aware change to a v2 / v1 JSON document."""
    key = draw(st.sampled_from(["drop", "add", "replace", "none"]))
    target = draw(st.sampled_from(sorted(document) or ["inputs"]))
    if key == "drop":
        document.pop(target, None)
    elif key == "add":
        document[draw(st.sampled_from(["inputs", "outputs", "parameters", "id", "metadata", "x"]))] = draw(
            _json_values
        )
    elif key == "replace" and isinstance(document.get(target), list) and document[target]:
        item = document[target][draw(st.integers(0, len(document[target]) - 1))]
        if isinstance(item, dict) and item:
            field = draw(st.sampled_from([*sorted(item), "parameters", "data", "shape", "datatype", "name"]))
            item[field] = draw(
                st.one_of(
                    _json_values,
                    st.lists(st.integers(-2, 2**40), max_size=9),
                    st.sampled_from(["FP32", "INT8", "BYTES", "FP16", "BOOL"]),
                )
            )
    return document


def _mutate_bytes(draw, body: bytes) -> bytes:
    kind = draw(st.sampled_from(["keep", "truncate", "flip", "insert"]))
    if kind == "keep" or not body:
        return body
    at = draw(st.integers(0, len(body) - 1))
    if kind == "truncate":
        return body[:at]
    if kind == "flip":
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    return body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]


@st.composite
def requests(draw) -> tuple[str, bytes, dict]:
    values = draw(tensors())
    protocol = draw(st.sampled_from(["v1", "v2-json", "v2-binary"]))
    if protocol == "v1":
        document = {"instances": [{k: v.tolist() for k, v in values.items()}], "metadata": {"age": 70}}
        body = json.dumps(_mutate_document(draw, document)).encode()
        return V1, _mutate_bytes(draw, body), JSON
    if protocol == "v2-json":
        document = json.loads(v2_json(values))
        return V2, _mutate_bytes(draw, json.dumps(_mutate_document(draw, document)).encode()), JSON
    sizes = {k: draw(st.sampled_from([v.nbytes, v.nbytes, 0, v.nbytes + 4, -1])) for k, v in values.items()}
    with np.errstate(over="ignore"):
        body, headers = v2_binary({k: v.astype(np.float32) for k, v in values.items()}, sizes)
    length = int(headers["inference-header-content-length"])
    length_value = draw(
        st.sampled_from([str(length), str(length), str(length - 3), "-1", "+7", "1e3", "x", str(2**70)])
    )
    return V2, _mutate_bytes(draw, body), {**headers, "inference-header-content-length": length_value}


FUZZ_EXAMPLES = 2500


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same few thousand requests every run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=requests())
def test_fuzzed_requests_never_get_a_5xx(server: httpx.Client, request: tuple[str, bytes, dict]) -> None:
    path, content, headers = request
    response = server.post(path, content=content, headers=headers)
    event(f"HTTP {response.status_code}")  # pytest --hypothesis-show-statistics: how many got through
    assert response.status_code < 500, (path, content[:300], headers, response.text)
    if response.status_code != 200:
        assert response.status_code in (400, 413) and response.json()["error"], response.text


def test_server_still_serves_after_the_fuzz(server: httpx.Client) -> None:
    _valid_request_still_answers(server)
    assert server.get(f"/v2/models/{NAME}/ready").json()["ready"] is True
