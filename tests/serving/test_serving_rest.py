"""TF Serving's REST API: every route, both payload formats, b64, signatures, labels, and every error status."""

import base64

import numpy as np
import pytest
from serving_helpers import CLASSES, http, images


@pytest.fixture(scope="module")
def url(module_server):
    return module_server.rest_url


def test_model_status_routes(url):
    status, body = http(url, "GET", "/v1/models/tiny")
    assert status == 200
    versions = {s["version"]: s for s in body["model_version_status"]}
    assert set(versions) == {"1", "2"}
    assert versions["2"] == {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert http(url, "GET", "/v1/models/tiny/versions/1")[1]["model_version_status"][0]["version"] == "1"
    assert http(url, "GET", "/v1/models/tiny/labels/canary")[1]["model_version_status"][0]["version"] == "2"
    assert http(url, "GET", "/V1/MODELS/other")[0] == 200  # TF Serving's routes are case-insensitive
    # "other" was configured as /models/other (the container path) and found in the local repository.
    assert http(url, "GET", "/v1/models/other")[1]["model_version_status"][0]["state"] == "AVAILABLE"


def test_metadata_routes(url):
    status, body = http(url, "GET", "/v1/models/tiny/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "tiny", "version": "2", "signature_name": ""}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "serving_bytes", "two_inputs", "classify", "regress"} <= set(signatures)
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["images"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in default["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
    assert set(default["outputs"]) == {"probabilities", "logits"}
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"
    assert http(url, "GET", "/v1/models/tiny/versions/1/metadata")[1]["model_spec"]["version"] == "1"
    assert http(url, "GET", "/v1/models/tiny/labels/stable/metadata")[1]["model_spec"]["version"] == "1"


def test_predict_row_and_columnar_formats(url, reference):
    x = images(3)
    status, rows = http(url, "POST", "/v1/models/tiny:predict", {"instances": x.tolist()})
    assert status == 200
    assert len(rows["predictions"]) == 3 and set(rows["predictions"][0]) == {"probabilities", "logits"}
    status, columns = http(url, "POST", "/v1/models/tiny:predict", {"inputs": x.tolist()})
    assert status == 200
    logits = np.array(columns["outputs"]["logits"])
    np.testing.assert_allclose(logits, reference(x, 2), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose([r["logits"] for r in rows["predictions"]], logits, rtol=1e-6)
    np.testing.assert_allclose(np.sum(columns["outputs"]["probabilities"], axis=1), 1.0, rtol=1e-5)
    # Named row format and named columnar format give the same answer.
    named = http(url, "POST", "/v1/models/tiny:predict", {"instances": [{"images": i} for i in x.tolist()]})[1]
    assert named == rows
    named = http(url, "POST", "/v1/models/tiny:predict", {"inputs": {"images": x.tolist()}})[1]
    assert named == columns


def test_predict_versions_and_labels(url, reference):
    x = images(1)
    for path, version in (("/v1/models/tiny/versions/1:predict", 1), ("/v1/models/tiny/labels/stable:predict", 1),
                          ("/v1/models/tiny/labels/canary:predict", 2), ("/v1/models/tiny:predict", 2)):
        status, body = http(url, "POST", path, {"inputs": x.tolist()})
        assert status == 200, body
        np.testing.assert_allclose(body["outputs"]["logits"], reference(x, version), rtol=1e-5, atol=1e-5)


def test_b64_binary_values_and_signature_selection(url, reference):
    import tensorflow as tf

    x = np.round(images(2))
    pngs = [base64.b64encode(tf.io.encode_png(i.astype(np.uint8)).numpy()).decode() for i in x]
    status, rows = http(url, "POST", "/v1/models/tiny:predict",
                        {"signature_name": "serving_bytes", "instances": [{"b64": p} for p in pngs]})
    assert status == 200, rows
    np.testing.assert_allclose([r["logits"] for r in rows["predictions"]], reference(x, 2), rtol=1e-4, atol=1e-4)
    status, columns = http(url, "POST", "/v1/models/tiny:predict",
                           {"signature_name": "serving_bytes", "inputs": {"image_bytes": [{"b64": p} for p in pngs]}})
    assert status == 200
    np.testing.assert_allclose(columns["outputs"]["logits"], reference(x, 2), rtol=1e-4, atol=1e-4)


def test_multi_input_signature(url, reference):
    x = images(2)
    rows = [{"images": i, "scale": s} for i, s in zip(x.tolist(), [2.0, -1.0])]
    status, body = http(url, "POST", "/v1/models/tiny:predict", {"signature_name": "two_inputs", "instances": rows})
    assert status == 200, body
    expected = reference(x, 2) * np.array([[2.0], [-1.0]])
    np.testing.assert_allclose([r["scaled_logits"] for r in body["predictions"]], expected, rtol=1e-5, atol=1e-5)
    status, body = http(url, "POST", "/v1/models/tiny:predict",
                        {"signature_name": "two_inputs", "inputs": {"images": x.tolist(), "scale": [2.0, -1.0]}})
    assert status == 200
    np.testing.assert_allclose(body["outputs"]["scaled_logits"], expected, rtol=1e-5, atol=1e-5)


def test_classify_and_regress(url, reference):
    x = images(2)
    examples = [{"pixels": i.ravel().tolist()} for i in x]
    status, body = http(url, "POST", "/v1/models/tiny:classify", {"signature_name": "classify", "examples": examples})
    assert status == 200, body
    logits = reference(x, 2)
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert [[label for label, _ in row] for row in body["results"]] == [list(CLASSES)] * 2
    np.testing.assert_allclose([[s for _, s in row] for row in body["results"]], probabilities, rtol=1e-4)
    # A context feature is merged into every example.
    status, body = http(url, "POST", "/v1/models/tiny/versions/1:regress",
                        {"signature_name": "regress", "context": {"pixels": x[0].ravel().tolist()},
                         "examples": [{}, {"pixels": x[1].ravel().tolist()}]})
    assert status == 200, body
    np.testing.assert_allclose(body["results"], reference(x, 1).sum(1), rtol=1e-4, atol=1e-4)


ERRORS = [
    # (method, path, body, status, part of the message)
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/tiny/versions/9", None, 404, "Could not find version 9"),
    ("GET", "/v1/models/tiny/labels/nope", None, 400, "Unrecognized servable version label: nope"),
    ("GET", "/v1/models/tiny/labels/missing/metadata", None, 404, "Specific(tiny, 7)"),
    ("GET", "/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
    ("GET", "/v1/models/versions/1", None, 400, "Missing model name"),
    ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/tiny/versions/9:predict", {"instances": [1]}, 404, "Specific(tiny, 9)"),
    ("POST", "/v1/models/tiny:predict", {"instances": np.zeros((1, 8, 8, 3)).tolist()}, 400, "expected shape"),
    ("POST", "/v1/models/tiny:predict", {"inputs": np.zeros((8, 8, 1)).tolist()}, 400, "expected shape"),
    ("POST", "/v1/models/tiny:predict", {"instances": [[["a"] * 8] * 8]}, 400, "expected DT_FLOAT values"),
    ("POST", "/v1/models/tiny:predict", {"instances": [{"b64": "AAAA"}]}, 400, "only for DT_STRING"),
    ("POST", "/v1/models/tiny:predict", {"instances": [[1, 2], [3]]}, 400, "ragged"),
    ("POST", "/v1/models/tiny:predict", {"instances": []}, 400, "empty"),
    ("POST", "/v1/models/tiny:predict", {"instances": 5}, 400, "must be a list"),
    ("POST", "/v1/models/tiny:predict", {"instances": [1], "inputs": [1]}, 400, "only one of 'inputs' or 'instances'"),
    ("POST", "/v1/models/tiny:predict", {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances'"),
    ("POST", "/v1/models/tiny:predict", {"signature_name": "nope", "instances": [1]}, 400,
     'Serving signature key "nope" not found'),
    ("POST", "/v1/models/tiny:predict", {"signature_name": 3, "instances": [1]}, 400, "must be a string"),
    ("POST", "/v1/models/tiny:predict", {"inputs": {"image": []}}, 400, "input tensor alias not found"),
    ("POST", "/v1/models/tiny:predict", {"signature_name": "two_inputs", "inputs": {"images": []}}, 400,
     "Missing input tensor"),
    ("POST", "/v1/models/tiny:predict", {"signature_name": "two_inputs", "instances": [[1]]}, 400,
     "each instance must be an object"),
    ("POST", "/v1/models/tiny:predict", {"signature_name": "serving_bytes", "instances": [{"b64": "***"}]}, 400,
     "not valid base64"),
    ("POST", "/v1/models/tiny:classify", {"examples": [{"pixels": [1.0] * 64}]}, 400,
     "Expected classification signature method_name"),
    ("POST", "/v1/models/tiny:regress", {"signature_name": "regress", "examples": [{"pixels": [1] * 64}]}, 400,
     "Data types don't match"),
    ("POST", "/v1/models/tiny:classify", {"signature_name": "classify", "examples": []}, 400, "non-empty list"),
    ("POST", "/v1/models/tiny:classify", {"signature_name": "classify", "examples": [{"p": [[1]]}]}, 400,
     "flat list"),
    ("GET", "/v1/models/tiny:predict", None, 400, "Malformed request: GET /v1/models/tiny:predict"),
    ("POST", "/v1/models/tiny", {}, 400, "Malformed request: POST"),
    ("POST", "/v1/models/tiny:explain", {}, 400, "Malformed request"),
    ("GET", "/v1/models/tiny/versions/x", None, 400, "Malformed request"),
    ("PUT", "/v1/models/tiny", None, 400, "Malformed request: PUT"),
    ("DELETE", "/v1/models/tiny", None, 400, "Malformed request: DELETE"),
    ("GET", "/index.html", None, 404, "Not found"),
]


@pytest.mark.parametrize("method,path,body,status,message", ERRORS, ids=[f"{e[0]} {e[1]} {e[3]}" for e in ERRORS])
def test_errors(url, method, path, body, status, message):
    got, answer = http(url, method, path, body)
    assert got == status, answer
    assert set(answer) == {"error"} and message in answer["error"], answer


@pytest.mark.parametrize("raw,message", [
    (b"{not json", "JSON Parse error"),
    (b"[1, 2]", "Is not object"),
    (b"\xff\xfe", "JSON Parse error"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON Parse error"),
    (b"", "JSON Parse error"),
])
def test_malformed_json(url, raw, message):
    status, answer = http(url, "POST", "/v1/models/tiny:predict", raw=raw)
    assert status == 400 and message in answer["error"]


def test_oversize_body_is_refused_and_server_stays_up(url):
    big = b'{"instances": [' + b"0," * 200_000 + b"0]}"  # ~400 KB > the 256 KiB limit of this server
    status, answer = http(url, "POST", "/v1/models/tiny:predict", raw=big)
    assert status == 413 and "exceeds the limit" in answer["error"]
    status, answer = http(url, "POST", "/v1/models/tiny:predict", raw=b"{}", headers={"Content-Length": "99999999"})
    assert status == 413
    assert http(url, "GET", "/v1/models/tiny")[0] == 200


def test_chunked_body(url):
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps({"inputs": images(1).tolist()}).encode()
    connection.request("POST", "/v1/models/tiny:predict", body=iter([body[:100], body[100:]]),
                       headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 200 and "outputs" in json.loads(response.read())
    connection.close()


def test_keep_alive_connection_serves_many_requests(url):
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps({"instances": images(1).tolist()})
    for _ in range(20):
        connection.request("POST", "/v1/models/tiny:predict", body=body)
        response = connection.getresponse()
        assert response.status == 200
        response.read()
    connection.request("POST", "/v1/models/tiny:predict", body="{bad")  # an error keeps the connection usable
    response = connection.getresponse()
    assert response.status == 400
    response.read()
    connection.request("GET", "/v1/models/tiny")
    assert connection.getresponse().status == 200
    connection.close()


def test_concurrent_requests_are_answered_correctly(url, reference):
    from concurrent.futures import ThreadPoolExecutor

    x = images(16, seed=3)

    def one(i):
        return http(url, "POST", "/v1/models/tiny/versions/1:predict", {"instances": x[i:i + 1].tolist()})

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    assert all(status == 200 for status, _ in answers)
    got = np.array([body["predictions"][0]["logits"] for _, body in answers])
    np.testing.assert_allclose(got, reference(x, 1), rtol=1e-5, atol=1e-5)


def test_prometheus_metrics(url):
    http(url, "POST", "/v1/models/tiny:predict", {"instances": images(1).tolist()})
    http(url, "POST", "/v1/models/nope:predict", {"instances": [1]})
    status, text = http(url, "GET", "/monitoring/prometheus/metrics")
    assert status == 200
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert ':tensorflow:serving:request_count{model_name="tiny",status="OK"}' in text
    # Unknown model names share one series, so clients cannot grow the metrics without bound.
    assert ':tensorflow:serving:request_count{model_name="<unknown>",status="NOT_FOUND"} ' in text
    assert 'model_name="nope"' not in text
    assert '# TYPE :tensorflow:serving:request_latency histogram' in text
    assert ':tensorflow:serving:request_latency_bucket{model_name="tiny",API="predict",entrypoint="REST",le="+Inf"}' \
        in text
    assert 'kerazoo_serving_batch_size_count{model_name="tiny"}' in text
    assert 'kerazoo_serving_available_versions{model_name="tiny"} 2' in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
