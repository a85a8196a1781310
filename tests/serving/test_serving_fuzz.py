"""Fuzzing the REST server with hypothesis: at least 2000 requests, no 5xx, a JSON error for every refusal, and
the server still serving afterwards."""

import http.client
import json
from urllib.parse import urlsplit

import numpy as np
import pytest
from serving_helpers import http as http_call
from serving_helpers import images
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
LIMIT = 64 * 1024
REQUESTS = 2000
PER_EXAMPLE = 4  # each generated body goes to this many generated (method, path) pairs


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, model_store):
    import shutil

    from kerazoo.serving import BatchingOptions, serve

    repo = tmp_path_factory.mktemp("fuzzrepo")
    shutil.copytree(model_store[1], repo / "tiny" / "1")
    shutil.copytree(model_store[2], repo / "tiny" / "2")
    config = repo / "models.config"
    config.write_text("model_config_list { config { name: 'tiny' base_path: 'tiny' model_version_policy { all {} } "
                      "version_labels { key: 'stable' value: 1 } } }")
    server = serve(str(repo), rest_port=0, grpc_port=None, model_config_file=str(config), poll_interval=0,
                   batching=BatchingOptions(max_batch_size=16, batch_timeout_micros=0), max_request_bytes=LIMIT)
    yield server
    server.stop()


def _tensor(shape, fill):
    size = int(np.prod(shape)) if shape else 1
    if size > 4000:
        shape = (1, 8, 8, 1)
    if isinstance(fill, (int, float)) and not isinstance(fill, bool) and abs(fill) < 2**53:
        return np.full(shape, fill, dtype=np.float64).tolist()
    value = fill
    for dim in reversed(shape):
        value = [value] * dim
    return value


json_leaf = st.none() | st.booleans() | st.floats() | st.integers(-2**70, 2**70) | st.text(max_size=6)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=8)
shapes = st.sampled_from([(1, 8, 8, 1), (2, 8, 8, 1), (8, 8, 1), (1, 8, 8, 3), (0, 8, 8, 1), (3,), (), (2,)]) \
    | st.lists(st.integers(0, 9), max_size=5).map(tuple)
fills = st.floats(-1e6, 1e6) | st.integers(-300, 300) | st.sampled_from(
    [float("nan"), float("inf"), 2**70, "x", True, None, {"b64": "AAAA"}, {"b64": "!!"}, [], {}])
tensors = st.builds(_tensor, shapes, fills)
signatures = st.sampled_from(["", "serving_default", "serving_bytes", "two_inputs", "nope", "__saved_model_init_op"])
predict_bodies = st.fixed_dictionaries({}, optional={
    "instances": tensors | st.lists(st.dictionaries(st.sampled_from(["images", "scale", "image_bytes", "x"]),
                                                    tensors, max_size=3), max_size=3) | json_value,
    "inputs": tensors | st.dictionaries(st.sampled_from(["images", "scale", "image_bytes", "x"]), tensors,
                                        max_size=3) | json_value,
    "signature_name": signatures | json_value,
    "examples": st.lists(st.dictionaries(st.sampled_from(["pixels", "p"]), tensors | json_value, max_size=2),
                         max_size=3) | json_value,
    "context": st.dictionaries(st.sampled_from(["pixels", "q"]), tensors | json_value, max_size=2) | json_value,
})
names = st.just("tiny") | st.just("tiny") | st.just("tiny") | st.sampled_from(["TINY", "nope", ""]) \
    | st.text(SAFE, max_size=8)
versions = st.sampled_from(["", "/versions/1", "/versions/2", "/versions/99", "/versions/007", "/labels/stable",
                            "/labels/nope", "/versions/abc", "/versions/-1", "/versions/1/labels/stable"])
suffixes = st.just(":predict") | st.sampled_from(
    [":predict", ":classify", ":regress", "/metadata", "", ":PREDICT", "/", ":", ":predict/x"])
model_paths = st.builds(lambda n, v, s: f"/v1/models/{n}{v}{s}", names, versions, suffixes)
random_paths = st.text(SAFE + "/:%?&=", max_size=40).map(lambda t: "/" + t)
paths = model_paths | model_paths | model_paths | random_paths | st.sampled_from(
    ["/monitoring/prometheus/metrics", "/v1/models", "/v1/", "/", "/v1/models/tiny/metadata?x=1"])
valid_bodies = st.builds(
    lambda key, n, value: {key: np.full((n, 8, 8, 1), value).tolist()},
    st.sampled_from(["instances", "inputs"]), st.integers(1, 4), st.floats(-1e3, 1e3))
bodies = (valid_bodies.map(lambda d: json.dumps(d).encode())
          | predict_bodies.map(lambda d: json.dumps(d).encode())
          | json_value.map(lambda d: json.dumps(d).encode())
          | st.binary(max_size=64)
          | st.sampled_from([b"", b"{", b'{"instances": [1,]}', b"\xff" * 10, b"[" * 5000, b"x" * (LIMIT + 1)]))
methods = st.sampled_from(["POST"] * 6 + ["GET"] * 3 + ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO"])


class Client:
    """A keep-alive connection that reconnects after the server closes it (as it does after a 413)."""

    def __init__(self, url):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.connection = None

    def request(self, method, path, body):
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.connection.request(method, path, body=body if method not in ("GET", "HEAD") or body else None)
                response = self.connection.getresponse()
                payload = response.read()
                if response.will_close:
                    self.close()
                return response.status, response.getheader("Content-Type", ""), payload
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt:
                    raise

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def test_fuzzed_requests_never_get_a_5xx_and_the_server_survives(fuzz_server):
    client = Client(fuzz_server.rest_url)
    sent, statuses = [0], {}

    @settings(max_examples=REQUESTS // PER_EXAMPLE, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(targets=st.lists(st.tuples(methods, paths), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE), body=bodies)
    def one(targets, body):
        for method, path in targets:
            status, content_type, payload = client.request(method, path, body)
            sent[0] += 1
            statuses[status] = statuses.get(status, 0) + 1
            assert status < 500, (method, path, body[:200], status, payload[:300])
            if status != 200 and method != "HEAD":
                assert content_type.startswith("application/json")
                assert set(json.loads(payload)) == {"error"}

    try:
        one()
    finally:
        client.close()
    print("fuzz statuses:", sent[0], sorted(statuses.items()))
    assert sent[0] >= REQUESTS, sent
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0 and statuses.get(404, 0) > 0
    status, body = http_call(fuzz_server.rest_url, "POST", "/v1/models/tiny:predict", {"inputs": images(1).tolist()})
    assert status == 200 and "outputs" in body
    assert http_call(fuzz_server.rest_url, "GET", "/v1/models/tiny")[0] == 200
