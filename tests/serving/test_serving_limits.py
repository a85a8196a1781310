"""Inputs that must never cost a 5xx, a hang or unbounded memory: oversized versions, deep nesting, lying
Content-Lengths, HTTP/0.9 request lines, image headers declaring huge pixel counts, JSON bodies with too many
values, gRPC tensors declaring huge shapes, and error bodies that would echo the request."""

import socket
import struct
import time
import zlib

import grpc
import numpy as np
import pytest
from serving_helpers import http, images

from kerazoo.serving.images import image_size

MAX_VALUES = 2000
MAX_ELEMENTS = 1000
MAX_PIXELS = 100 * 100


@pytest.fixture(scope="module")
def limited(tmp_path_factory, model_store):
    import shutil

    from kerazoo.serving import BatchingOptions, serve

    repo = tmp_path_factory.mktemp("limits")
    shutil.copytree(model_store[1], repo / "tiny" / "1")
    server = serve(str(repo), rest_port=0, grpc_port=0, poll_interval=0, max_json_values=MAX_VALUES,
                   max_request_elements=MAX_ELEMENTS, max_image_pixels=MAX_PIXELS,
                   batching=BatchingOptions(max_batch_size=4, max_enqueued_batches=2))
    server.rest.body_timeout = 0.5
    yield server
    server.stop()


def _raw(server, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=wait) as connection:
        connection.sendall(data)
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")]
                    if length and len(rest) >= length[0]:
                        break
        except socket.timeout:
            pass
    return b"".join(chunks)


def _png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height (its data is not needed: nothing may decode it)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("path", ["/v1/models/tiny/versions/{v}:predict", "/v1/models/tiny/versions/{v}",
                                  "/v1/models/tiny/versions/{v}/metadata"])
def test_a_version_of_thousands_of_digits_is_a_400(limited, path):
    method = "POST" if ":" in path else "GET"
    status, body = http(limited.rest_url, method, path.format(v="9" * 5000), {"instances": images(1).tolist()})
    assert status == 400 and body["error"].startswith("Failed to convert version")
    assert len(body["error"]) < 200


@pytest.mark.parametrize("signature,leaf", [("serving_bytes", "abc"), ("serving_default", 1.0)])
def test_values_nested_65_levels_deep_are_a_400(limited, signature, leaf):
    value = leaf
    for _ in range(70):
        value = [value]
    status, body = http(limited.rest_url, "POST", "/v1/models/tiny:predict",
                        {"signature_name": signature, "instances": value})
    assert status == 400, body


def test_a_lying_content_length_is_answered_408_not_a_hang(limited):
    start = time.monotonic()
    answer = _raw(limited, b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - start < 4
    assert _raw(limited, b"GET /v1/models/tiny HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("line", [b"GET /v1/models/tiny\r\n", b"GARBAGE\r\n", b"GET / HTTP/1.1 extra\r\n"])
def test_http09_and_garbage_request_lines_get_a_status_line(limited, line):
    answer = _raw(limited, line)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert b'"error"' in answer


def test_image_headers_over_the_pixel_limit_are_refused_before_decoding(limited):
    import base64

    def predict(data):
        return http(limited.rest_url, "POST", "/v1/models/tiny:predict",
                    {"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(data).decode()}]})

    status, body = predict(_png(20_000, 20_000))
    assert status == 400 and "20000x20000 = 400000000 pixels" in body["error"]
    import tensorflow as tf

    small = tf.io.encode_png(np.zeros((8, 8, 1), np.uint8)).numpy()
    status, body = predict(small)
    assert status == 200 and len(body["predictions"]) == 1


def test_image_size_reads_png_jpeg_gif_and_bmp_headers():
    import tensorflow as tf

    pixels = np.zeros((30, 50, 3), np.uint8)
    assert image_size(tf.io.encode_png(pixels).numpy()) == (50, 30)
    assert image_size(tf.io.encode_jpeg(pixels).numpy()) == (50, 30)
    assert image_size(tf.io.encode_jpeg(pixels, progressive=True).numpy()) == (50, 30)
    assert image_size(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\0" * 8) == (640, 480)
    assert image_size(b"BM" + b"\0" * 16 + struct.pack("<ii", 300, -200) + b"\0" * 30) == (300, 200)
    assert image_size(b"not an image") is None and image_size(b"\xff\xd8\xff") is None


def test_json_bodies_with_too_many_values_are_refused_before_decoding(limited):
    status, body = http(limited.rest_url, "POST", "/v1/models/tiny:predict", {"instances": [0.0] * (MAX_VALUES + 1)})
    assert status == 400 and f"limit of {MAX_VALUES}" in body["error"]


def test_requests_over_the_element_limit_are_refused(limited):
    status, body = http(limited.rest_url, "POST", "/v1/models/tiny:predict", {"instances": images(16).tolist()})
    assert status == 400 and f"limit of {MAX_ELEMENTS}" in body["error"]


def test_grpc_shapes_over_the_limits_are_refused_before_the_array_is_made(limited):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    bomb = predict_pb2.PredictRequest()
    bomb.model_spec.name = "tiny"
    proto = bomb.inputs["images"]
    proto.dtype = tf.float32.as_datatype_enum
    for size in (10**9, 8, 8, 1):  # one value, broadcast to 32 GB by make_ndarray
        proto.tensor_shape.dim.add(size=size)
    proto.float_val.append(1.0)
    rows = predict_pb2.PredictRequest()
    rows.model_spec.name = "tiny"
    rows.inputs["scale"].CopyFrom(tf.make_tensor_proto(np.ones(9, np.float32)))
    rows.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((9, 8, 8, 1), np.float32)))
    rows.model_spec.signature_name = "two_inputs"
    with grpc.insecure_channel(limited.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(bomb, timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "limit of" in error.value.details()
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(rows, timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "batching limit of 8" in error.value.details()


def test_error_bodies_do_not_echo_the_request(limited):
    status, body = http(limited.rest_url, "POST", "/v1/models/tiny:predict",
                        {"signature_name": "s" * 200_000, "instances": [1]})
    assert status == 400 and len(body["error"]) < 1100 and "more characters" in body["error"]


def test_header_parsing_refuses_smuggling_and_floods_and_keeps_connections(limited):
    two_lengths = b"POST /v1/models/tiny:predict HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}"
    assert _raw(limited, two_lengths).startswith(b"HTTP/1.1 400 ")
    flood = b"GET /v1/models/tiny HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n"
    assert _raw(limited, flood).startswith(b"HTTP/1.1 431 ")
    assert _raw(limited, b"GET /v1/models/tiny HTTP/1.1\r\nno colon here\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    continued = _raw(limited, b"POST /v1/models/tiny:predict HTTP/1.1\r\nExpect: 100-continue\r\ncontent-length: 2"
                              b"\r\n\r\n{}")
    assert continued.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 ")  # {} has no instances
    http10 = _raw(limited, b"GET /v1/models/tiny HTTP/1.0\r\n\r\n")
    assert http10.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in http10
    with socket.create_connection(("127.0.0.1", limited.rest_port), timeout=5) as connection:
        for _ in range(2):  # HTTP/1.1 keeps the connection open for the next request
            connection.sendall(b"GET /v1/models/tiny HTTP/1.1\r\nHOST: x\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
