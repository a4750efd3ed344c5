"""KServe-logger CloudEvents in, inference-record halves out: v1, v2 JSON, v2 binary, errors, bad input."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from monitoring.client import cloud_event, request_event, response_event
from monitoring.events import EventError, Half, parse_event
from monitoring.store import join_halves

pytestmark = pytest.mark.unit

RNG = np.random.default_rng(0)
CURRENT = RNG.standard_normal((6, 4)).astype(np.float32)
ANCHOR = RNG.standard_normal((3, 4)).astype(np.float32)
META = {"request_id": "r-1", "subject_pseudonym": "s-07", "age": 34, "gender": "f", "noise_level": 65}
OUTPUTS = {"probability": 0.75, "label": 1, "threshold": 0.5, "age_estimate": 41.5}


def _check_request(half: Half) -> None:
    assert half.kind == "request" and half.model_name == "hl" and half.inference_id == "abc"
    for name, tensor in (("current", CURRENT), ("anchor", ANCHOR)):
        assert half.fields[f"{name}_frames"] == len(tensor)
        np.testing.assert_allclose(half.fields[f"{name}_mean"], tensor.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(half.fields[f"{name}_std"], tensor.std(axis=0), rtol=1e-5)
    assert {k: half.fields[k] for k in META} == META


def _kserve_v2_request(binary: bool) -> tuple[bytes, int | None]:
    inputs = []
    for name, value in (("current", CURRENT), ("anchor", ANCHOR)):
        infer_input = InferInput(name, list(value.shape), "FP32")
        infer_input.set_data_from_numpy(value, binary_data=binary)
        inputs.append(infer_input)
    request = InferRequest(model_name="hl", infer_inputs=inputs, request_id="r-1", parameters=META)
    body, length = request.to_rest()
    return (body, length) if binary else (json.dumps(body).encode(), None)


def test_v1_request_and_response_join_into_one_record() -> None:
    request = request_event("abc", "hl", {"current": CURRENT, "anchor": ANCHOR}, META)
    [req] = parse_event(request.headers, request.body)
    _check_request(req)
    response = response_event("abc", "hl", "7", OUTPUTS)
    [resp] = parse_event(response.headers, response.body)
    [record] = join_halves([resp, req])
    assert record["status"] == "ok" and record["model_version"] == "7"
    assert {k: record[k] for k in OUTPUTS} == OUTPUTS
    assert record["timestamp"] == req.time  # the request's time stamps the inference


@pytest.mark.parametrize("binary", [False, True], ids=["v2-json", "v2-binary"])
def test_v2_request_encoded_by_kserve(binary: bool) -> None:
    body, length = _kserve_v2_request(binary)
    extra = {"Inference-Header-Content-Length": str(length)} if binary else {}
    content_type = "application/octet-stream" if binary else "application/json"
    event = cloud_event("request", "abc", "hl", body, content_type, extra=extra)
    [half] = parse_event(event.headers, event.body)
    _check_request(half)


def test_v2_binary_header_length_forwarded_in_ce_metadata_or_found_in_body() -> None:
    body, length = _kserve_v2_request(binary=True)
    forwarded = json.dumps({"Inference-Header-Content-Length": [str(length)]})
    event = cloud_event(
        "request", "abc", "hl", body, "application/octet-stream", extra={"ce-metadata": forwarded}
    )
    _check_request(parse_event(event.headers, event.body)[0])
    bare = cloud_event("request", "abc", "hl", body, "application/octet-stream")
    _check_request(parse_event(bare.headers, bare.body)[0])


def test_v2_binary_response_encoded_by_kserve() -> None:
    outputs = [
        InferOutput(name, [], dtype, data=np.array(value, dtype=np_dtype))
        for (name, value), dtype, np_dtype in zip(
            OUTPUTS.items(),
            ["FP32", "INT64", "FP32", "FP32"],
            ["float32", "int64", "float32", "float32"],
            strict=True,
        )
    ]
    response = InferResponse("r-1", "hl", outputs, model_version="7", use_binary_outputs=True)
    body, length = response.to_rest()
    event = cloud_event(
        "response",
        "abc",
        "hl",
        body,
        "application/octet-stream",
        extra={"Inference-Header-Content-Length": str(length)},
    )
    [half] = parse_event(event.headers, event.body)
    assert half.fields["model_version"] == "7" and half.fields["label"] == 1
    assert half.fields["probability"] == pytest.approx(0.75) and half.fields["age_estimate"] == pytest.approx(
        41.5
    )


def test_error_response_and_pending_request() -> None:
    error = response_event("e1", "hl", None, error="current: dim 1 must be 384, got 4")
    [half] = parse_event(error.headers, error.body)
    [record] = join_halves([half])
    assert record["status"] == "error" and "dim 1 must be 384" in record["error"]
    request = request_event("p1", "hl", {"current": CURRENT})
    [pending] = join_halves(parse_event(request.headers, request.body))
    assert pending["status"] == "pending" and pending["current_frames"] == 6


def test_a_failed_status_code_is_an_error_whatever_the_body() -> None:
    # our model server adds ce-statuscode; a 5xx may carry a body that is not the {"error": ...} form
    ok = response_event("s1", "hl", "7", outputs={"probability": 0.5})
    headers = {**ok.headers, "ce-statuscode": "503"}
    [half] = parse_event(headers, b"upstream connect error")
    [record] = join_halves([half])
    assert record["status"] == "error" and record["error"] == "HTTP 503: upstream connect error"
    [half] = parse_event({**ok.headers, "ce-statuscode": "200"}, ok.body)
    assert half.fields["probability"] == pytest.approx(0.5)
    with pytest.raises(EventError, match="ce-statuscode: not an HTTP status code"):
        parse_event({**ok.headers, "ce-statuscode": "teapot"}, ok.body)


def test_structured_mode_and_v1_batch() -> None:
    data = {"instances": [{"current": CURRENT.tolist()}, {"current": ANCHOR.tolist()}], "metadata": META}
    doc = {
        "specversion": "1.0",
        "id": "batch",
        "type": "org.kubeflow.serving.inference.request",
        "source": "http://x",
        "inferenceservicename": "hl",
        "time": "2026-01-02T03:04:05Z",
        "datacontenttype": "application/json",
        "data": data,
    }
    halves = parse_event({"content-type": "application/cloudevents+json"}, json.dumps(doc).encode())
    assert [h.inference_id for h in halves] == ["batch:0", "batch:1"]
    assert [h.fields["current_frames"] for h in halves] == [6, 3]
    assert halves[0].time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_journal_form_round_trips_exactly() -> None:
    event = request_event("abc", "hl", {"current": CURRENT, "anchor": ANCHOR}, META)
    [half] = parse_event(event.headers, event.body)
    back = Half.from_json(half.to_json())
    assert back.key == half.key and back.time == half.time
    np.testing.assert_array_equal(back.fields["current_mean"], half.fields["current_mean"])
    assert {k: back.fields[k] for k in META} == META


GOOD = request_event("abc", "hl", {"current": CURRENT})


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in GOOD.headers.items() if k != name}


BINARY_BODY, BINARY_LENGTH = _kserve_v2_request(binary=True)
MALFORMED = [
    (_without("ce-id"), GOOD.body, "missing_attribute", "ce-id"),
    ({**GOOD.headers, "ce-specversion": "0.3"}, GOOD.body, "bad_attribute", "ce-specversion"),
    ({**GOOD.headers, "ce-type": "dev.other"}, GOOD.body, "bad_type", "ce-type"),
    (_without("ce-inferenceservicename"), GOOD.body, "missing_attribute", "ce-inferenceservicename"),
    (
        {**GOOD.headers, "ce-inferenceservicename": "../etc"},
        GOOD.body,
        "bad_attribute",
        "not a valid model name",
    ),
    ({**GOOD.headers, "ce-time": "yesterday"}, GOOD.body, "bad_attribute", "ce-time"),
    (GOOD.headers, b"{not json", "bad_json", "not valid JSON"),
    (GOOD.headers, b"", "bad_body", "empty"),
    (GOOD.headers, b"[1, 2]", "bad_body", "JSON object"),
    (GOOD.headers, b'{"instances": []}', "bad_body", "instances"),
    (GOOD.headers, b'{"instances": [{"current": [[1, "a"]]}]}', "bad_tensor", "instances[0].current"),
    (GOOD.headers, b'{"instances": [{"x": 1}], "metadata": {"age": [1]}}', "bad_body", "metadata.age"),
    (GOOD.headers, b'{"something": 1}', "bad_body", "'instances' (v1) or 'inputs' (v2)"),
    (
        GOOD.headers,
        b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}',
        "bad_tensor",
        "inputs.x",
    ),
    (
        GOOD.headers,
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "COMPLEX", "data": [1]}]}',
        "bad_tensor",
        "datatype",
    ),
    (
        {**GOOD.headers, "Inference-Header-Content-Length": str(BINARY_LENGTH)},
        BINARY_BODY[:-4],
        "bad_binary",
        "binary_data_size",
    ),
    (
        {**GOOD.headers, "Inference-Header-Content-Length": "many"},
        BINARY_BODY,
        "bad_binary",
        "not an integer",
    ),
    (
        {**GOOD.headers, "content-type": "application/cloudevents+json"},
        json.dumps(
            {"specversion": "1.0", "id": "x", "type": "org.kubeflow.serving.inference.request"}
        ).encode(),
        "missing_attribute",
        "ce-source",
    ),
]


@pytest.mark.parametrize(("headers", "body", "reason", "named"), MALFORMED)
def test_malformed_events_are_rejected_with_a_specific_reason(headers, body, reason, named) -> None:
    with pytest.raises(EventError) as caught:
        parse_event(headers, body)
    assert caught.value.reason == reason
    assert named in str(caught.value)


def test_response_without_body_fields_is_rejected() -> None:
    event = cloud_event("response", "abc", "hl", b'{"model_name": "hl"}')
    with pytest.raises(EventError, match="'predictions' \\(v1\\), 'outputs' \\(v2\\) or 'error'"):
        parse_event(event.headers, event.body)


def test_structured_base64_data() -> None:
    doc = {
        "specversion": "1.0",
        "id": "b64",
        "type": "org.kubeflow.serving.inference.response",
        "source": "http://x",
        "inferenceservicename": "hl",
        "data_base64": base64.b64encode(json.dumps({"predictions": [OUTPUTS]}).encode()).decode(),
    }
    [half] = parse_event({"Content-Type": "application/cloudevents+json"}, json.dumps(doc).encode())
    assert half.fields["probability"] == 0.75


def test_binary_json_and_reference_summaries_agree() -> None:
    """A tensor summarised from a v2 binary body (a float32 view, never copied to float64), from v1 JSON
    lists and by the reference frame's ``summarize_inputs`` gives the same float32 statistics."""
    from monitoring.records import summarize_inputs

    tensors = {"current": CURRENT * 1e3 + 5e3, "anchor": ANCHOR}  # a large offset: accumulation matters
    binary = request_event("b", "hl", tensors, META, binary=True)
    lists = request_event("j", "hl", tensors, META, binary=False)
    [from_binary], [from_lists] = (
        parse_event(binary.headers, binary.body),
        parse_event(lists.headers, lists.body),
    )
    reference = summarize_inputs(tensors)
    for name in tensors:
        for stat in ("mean", "std"):
            key = f"{name}_{stat}"
            assert from_binary.fields[key].dtype == np.float32
            np.testing.assert_array_equal(from_binary.fields[key], np.asarray(reference[key], np.float32))
            np.testing.assert_allclose(from_lists.fields[key], from_binary.fields[key], rtol=1e-6)
        want = tensors[name].astype(np.float64).std(axis=0)
        np.testing.assert_allclose(from_binary.fields[f"{name}_std"], want, rtol=1e-6)
