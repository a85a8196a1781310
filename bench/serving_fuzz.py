"""Malformed and hostile requests against `kerazoo serve`: counts by status code, and the server's memory.

    python bench/serving_fuzz.py                        # 2,000 REST + 200 gRPC generated requests, then the bombs
    python bench/serving_fuzz.py --rest 4000 --seed 7

The server runs as its own process (``python -m kerazoo serve`` on loopback ports, a tiny model with
``serving_default`` on 8x8x1 pixels and ``serving_bytes`` on PNG bytes), so its resident memory (VmRSS) is measured
apart from the client's. Seeded generators send, one connection per request: broken request lines (HTTP/0.9,
garbage, oversized), bad and lying Content-Lengths and chunked bodies, versions of thousands of digits, unknown
routes and methods, mutations of valid JSON bodies (wrong types, deep nesting, NaN, huge numbers, bad base64), and
gRPC requests with wrong specs, dtypes, shapes, examples, metadata fields and config reloads out of the repository.
Then the bombs: a 20,000 x 20,000 PNG (a few hundred KB compressed), a 50 MB JSON array, a 50 MB string, gRPC
tensors declaring 10^9 elements. An unintended answer is a REST 5xx or a gRPC INTERNAL/UNKNOWN/DATA_LOSS, a dropped
connection without a status line, or a server that no longer answers a valid request with the same numbers.
Prints the counts and memory figures and writes bench/results/serving_fuzz.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

UNINTENDED_GRPC = {"INTERNAL", "UNKNOWN", "DATA_LOSS"}
MEMORY_BUDGET_MB = 200


# -- the model and the server process ----------------------------------------------------------------------------


def export_tiny_model(path: str) -> None:
    """A version with ``serving_default`` (images float32 [-1,8,8,1] -> probabilities) and ``serving_bytes``."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="images")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3, padding="same")(inputs / 255.0))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))

    def outputs(images):
        return {"probabilities": tf.nn.softmax(tf.cast(model(images, training=False), tf.float32))}

    def from_png(image_bytes):
        images = tf.map_fn(lambda b: tf.cast(tf.image.decode_png(b, channels=1), tf.float32), image_bytes,
                           fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32))
        return outputs(tf.image.resize(images, [8, 8]))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=outputs,
                         input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="images")])
    archive.add_endpoint(name="serving_bytes", fn=from_png,
                         input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.write_out(path, verbose=False)


class ServerProcess:
    """``kerazoo serve`` in a child process on free loopback ports; ``rss_mb()`` reads its VmRSS."""

    def __init__(self, repo: str, extra_args=()):
        root = os.path.dirname(_HERE)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        command = [sys.executable, "-m", "kerazoo", "serve", "--repo", repo, "--rest-port", "0", "--grpc-port",
                   "0", "--file-system-poll-wait-seconds", "0", "--enable-batching", "--log-level", "ERROR",
                   *extra_args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                        text=True)
        self.rest_port = self.grpc_address = None
        deadline = time.monotonic() + 300
        while (self.rest_port is None or self.grpc_address is None) and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the server exited before it listened")
            if match := re.match(r"REST\s+http://127\.0\.0\.1:(\d+)/", line):
                self.rest_port = int(match.group(1))
            if match := re.match(r"gRPC\s+(127\.0\.0\.1:\d+)\s", line):
                self.grpc_address = match.group(1)
        if self.rest_port is None or self.grpc_address is None:
            self.stop()
            raise RuntimeError("the server did not listen within 300 s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return round(kb / 1024, 1)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- REST, on raw sockets ----------------------------------------------------------------------------------------


def send_raw(port: int, data: bytes, *, close_write: bool = True, timeout: float = 30.0) -> int | None:
    """Send bytes on a fresh connection and return the answer's status code (None: no status line came back)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(data)
            if close_write:  # the client has said all it will: a lying Content-Length meets end of file
                connection.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before reading everything (413)
            pass
        answer = b""
        try:
            while b"\r\n" not in answer and len(answer) < 4096:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    return int(match.group(1)) if match else None


def _request(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {"Content-Length": str(len(body))}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _nest(value, depth: int):
    for _ in range(depth):
        value = [value]
    return value


def _mutated_body(rng: random.Random) -> bytes:
    image = [[[[rng.uniform(0, 255)] for _ in range(8)] for _ in range(8)]]
    choices = [
        lambda: {"instances": image},
        lambda: {"inputs": image, "instances": image},
        lambda: {"instances": _nest("abc", rng.randint(60, 200)), "signature_name": "serving_bytes"},
        lambda: {"instances": _nest(1.0, rng.randint(30, 100))},
        lambda: {"instances": [{"b64": rng.choice(["!!", "AAA", "", "A" * 5])}], "signature_name": "serving_bytes"},
        lambda: {"instances": [[[[float("nan")] * 1] * 8] * 8]},
        lambda: {"instances": [[[[10**rng.randint(20, 400)] * 1] * 8] * 8]},
        lambda: {"instances": image, "signature_name": rng.choice([100, None, [], {}, "nope", "x" * 5000])},
        lambda: {"examples": [{"x": rng.random()}], "signature_name": "serving_default"},
        lambda: {"examples": rng.choice([[], {}, "x", [1], [{"x": []}], [{"x": [[1]]}]])},
        lambda: {"instances": rng.choice([[], {}, None, "x", 1, [[]], [{}], [{"images": 1, "x": 2}]])},
        lambda: {"inputs": {"images": image, "other": 1}},
        lambda: rng.choice([[], 1, "x", None, True]),
    ]
    document = rng.choice(choices)()
    text = json.dumps(document, allow_nan=True).encode()
    if rng.random() < 0.2:  # a cut or flipped byte
        position = rng.randrange(max(1, len(text)))
        text = text[:position] + (bytes([rng.randrange(256)]) if rng.random() < 0.5 else b"")
    return text


def rest_cases(rng: random.Random, count: int):
    """(label, request bytes, close_write) for ``count`` generated malformed or odd requests."""
    paths = ["/v1/models/tiny:predict", "/v1/models/tiny", "/v1/models/tiny/metadata", "/v1/models/tiny:classify",
             "/v1/models/tiny:regress", "/v1/models/nope:predict", "/v1/models/tiny/labels/x:predict",
             "/v1/models/tiny/versions/1:predict", "/v1/models/tiny/versions/0001:predict", "/", "/v1/",
             "/monitoring/prometheus/metrics", "/v1/models/tiny/versions/1/labels/x", "/v1/models/%00:predict"]
    generators = {
        "mutated_json": lambda: _request("POST", rng.choice(paths[:9]), _mutated_body(rng)),
        "random_bytes": lambda: _request("POST", rng.choice(paths),
                                         bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))),
        "long_version": lambda: _request(rng.choice(["GET", "POST"]),
                                         f"/v1/models/tiny/versions/{'9' * rng.randint(20, 20000)}:predict"
                                         if rng.random() < 0.5 else f"/v1/models/tiny/versions/{'1' * 3000}",
                                         b'{"instances": [1]}'),
        "http09_or_garbage_line": lambda: rng.choice([
            b"GET /v1/models/tiny\r\n\r\n", b"GET\r\n\r\n", b"\r\n\r\n", b"HELLO WORLD\r\n\r\n",
            b"GET /v1/models/tiny HTTP/9.9\r\n\r\n", b"GET /v1/models/tiny HTTP/1.1 extra\r\n\r\n",
            bytes(rng.randrange(1, 256) for _ in range(40)) + b"\r\n\r\n"]),
        "long_request_line": lambda: f"GET /{'a' * rng.randint(70_000, 100_000)} HTTP/1.1\r\n\r\n".encode(),
        "lying_content_length": lambda: _request(
            "POST", "/v1/models/tiny:predict", b'{"instances": [1]}',
            {"Content-Length": str(rng.choice([10**6, 10**9, 100, 10**30, 64 * 2**20 + 1]))}),
        "bad_content_length": lambda: _request("POST", "/v1/models/tiny:predict", b"{}", {
            "Content-Length": rng.choice(["-1", "abc", "", "1e3", "0x10", " 2", "9" * 500])}),
        "bad_chunked": lambda: _request("POST", "/v1/models/tiny:predict", rng.choice([
            b"zz\r\n", b"f" * 2000 + b"\r\n", b"5\r\n{}\r\n", b"2\r\n{}\r\n0\r\n\r\n", b"-1\r\n"]),
            {"Transfer-Encoding": "chunked"}),
        "many_headers": lambda: _request("GET", "/v1/models/tiny", b"",
                                         {f"X-{i}": "y" * 100 for i in range(rng.choice([50, 150, 1000]))}),
        "methods": lambda: _request(rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "FOO", "HEAD", "TRACE"]),
                                    rng.choice(paths), b"{}"),
    }
    kinds = sorted(generators)
    for i in range(count):
        kind = kinds[i % len(kinds)]
        yield kind, generators[kind]()


def bomb_cases(rng: random.Random):
    """The memory bombs: (label, request bytes)."""
    width = height = 20_000
    rows = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + grayscale pixels
    data = b"".join(rows.compress(row) for _ in range(height)) + rows.flush()

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    png_body = json.dumps({"signature_name": "serving_bytes",
                           "instances": [{"b64": base64.b64encode(png).decode()}]}).encode()
    numbers = b'{"instances": [' + b",".join([b"0"] * (25 * 2**20)) + b"]}"  # 50 MB of numbers
    text = b'{"signature_name": "serving_bytes", "instances": ["' + b"a" * (50 * 2**20) + b'"]}'
    return [(f"png_{width}x{height}_{len(png) // 1024}KB", _request("POST", "/v1/models/tiny:predict", png_body)),
            ("json_50MB_numbers", _request("POST", "/v1/models/tiny:predict", numbers)),
            ("json_50MB_string", _request("POST", "/v1/models/tiny:predict", text))]


# -- gRPC ----------------------------------------------------------------------------------------------------------


def grpc_cases(rng: random.Random, count: int, repo: str):
    """(label, method path, request message) for ``count`` generated requests."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import (
        classification_pb2, get_model_metadata_pb2, get_model_status_pb2, inference_pb2, model_management_pb2,
        predict_pb2, regression_pb2,
    )

    def spec(message):
        message.model_spec.name = rng.choice(["tiny", "tiny", "nope", "", "x" * 3000])
        choice = rng.random()
        if choice < 0.2:
            message.model_spec.version.value = rng.choice([1, 0, -1, 2**63 - 1, 99])
        elif choice < 0.3:
            message.model_spec.version_label = rng.choice(["stable", "", "x" * 100])
        if rng.random() < 0.5:
            message.model_spec.signature_name = rng.choice(["", "serving_default", "serving_bytes", "nope",
                                                           "__saved_model_init_op"])
        return message

    def predict():
        request = spec(predict_pb2.PredictRequest())
        kind = rng.randrange(6)
        if kind == 0:
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(
                np.zeros(rng.choice([(1, 8, 8, 1), (2, 8, 8, 1), (8, 8, 1), (1, 4, 4, 1), (0, 8, 8, 1)]), np.float32)))
        elif kind == 1:
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 8, 8, 1), rng.choice(
                [np.int32, np.float64, np.uint8, np.bool_]))))
        elif kind == 2:
            request.inputs[rng.choice(["image_bytes", "images", "x"])].CopyFrom(
                tf.make_tensor_proto([rng.randbytes(rng.randint(0, 50))]))
        elif kind == 3:
            proto = request.inputs["images"]
            proto.dtype = rng.choice([1, 7, 0, 99, 20])
            for size in rng.choice([(10**9, 8, 8, 1), (2**40,), (-5, 8), tuple([1] * 70), (1, 8, 8, 1)]):
                proto.tensor_shape.dim.add(size=size)
            proto.float_val.extend([1.0] * rng.choice([0, 1, 3]))
            proto.tensor_content = rng.randbytes(rng.choice([0, 7, 256]))
        elif kind == 4:
            request.output_filter.append(rng.choice(["probabilities", "nope", ""]))
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 8, 8, 1), np.float32)))
        return "/tensorflow.serving.PredictionService/Predict", request

    def examples(message):
        for _ in range(rng.randint(0, 3)):
            example = message.input.example_list.examples.add()
            example.features.feature[rng.choice(["pixels", "x"])].float_list.value.extend([1.0] * rng.randint(0, 70))
        return message

    def classify():
        return "/tensorflow.serving.PredictionService/Classify", examples(spec(
            classification_pb2.ClassificationRequest()))

    def regress():
        return "/tensorflow.serving.PredictionService/Regress", examples(spec(regression_pb2.RegressionRequest()))

    def metadata():
        request = spec(get_model_metadata_pb2.GetModelMetadataRequest())
        request.metadata_field.extend(rng.sample(["signature_def", "model_card", "nope", ""], rng.randint(0, 2)))
        return "/tensorflow.serving.PredictionService/GetModelMetadata", request

    def status():
        return "/tensorflow.serving.ModelService/GetModelStatus", spec(get_model_status_pb2.GetModelStatusRequest())

    def reload():
        request = model_management_pb2.ReloadConfigRequest()
        request.config.model_config_list.SetInParent()
        for _ in range(rng.randint(0, 2)):
            request.config.model_config_list.config.add(
                name=rng.choice(["stolen", "tiny", "bad name", ""]),
                base_path=rng.choice(["/etc", "../outside", "/", os.path.join(repo, ".."), "tiny/../..", "gs://b/m"]),
                model_platform=rng.choice(["tensorflow", "", "pytorch"]))
        return "/tensorflow.serving.ModelService/HandleReloadConfigRequest", request

    def multi():
        return "/tensorflow.serving.PredictionService/MultiInference", inference_pb2.MultiInferenceRequest()

    makers = [predict, predict, predict, classify, regress, metadata, status, reload, multi]
    for i in range(count):
        maker = makers[i % len(makers)]
        yield maker.__name__, *maker()


def call_grpc(channel, method: str, request, timeout: float = 60.0) -> str:
    import grpc

    call = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=lambda b: b)
    try:
        call(request, timeout=timeout)
        return "OK"
    except grpc.RpcError as error:
        return error.code().name


# -- the run -------------------------------------------------------------------------------------------------------


def valid_prediction(port: int) -> list:
    import http.client

    body = json.dumps({"instances": [[[[float(i + j)] for j in range(8)] for i in range(8)]]})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/v1/models/tiny:predict", body=body)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise AssertionError(f"a valid request failed with {response.status}: {payload[:200]!r}")
    return json.loads(payload)["predictions"]


def run(*, rest: int = 2000, grpc_requests: int = 200, seed: int = 0, bombs: bool = True, verbose: bool = True):
    """Start a server, send everything, and return the figures (see the module docstring)."""
    import grpc

    rng = random.Random(seed)
    repo = tempfile.mkdtemp(prefix="serving_fuzz_")
    export_tiny_model(os.path.join(repo, "tiny", "1"))
    server = ServerProcess(repo)
    figures = {"rest": {}, "grpc": {}, "bombs": {}, "unintended": []}
    try:
        expected = valid_prediction(server.rest_port)
        memory = {"start_mb": server.rss_mb()}
        started = time.monotonic()
        for kind, data in rest_cases(rng, rest):
            status = send_raw(server.rest_port, data, close_write=kind != "long_request_line")
            key = str(status)
            figures["rest"][key] = figures["rest"].get(key, 0) + 1
            if status is None or status >= 500:
                figures["unintended"].append(f"REST {kind}: {status} for {data[:120]!r}")
        figures["rest_seconds"] = round(time.monotonic() - started, 1)
        with grpc.insecure_channel(server.grpc_address, options=[("grpc.max_send_message_length", -1)]) as channel:
            for kind, method, request in grpc_cases(rng, grpc_requests, repo):
                code = call_grpc(channel, method, request)
                figures["grpc"][code] = figures["grpc"].get(code, 0) + 1
                if code in UNINTENDED_GRPC:
                    figures["unintended"].append(f"gRPC {kind}: {code}")
            memory["after_generated_mb"] = server.rss_mb()
            if bombs:
                for label, data in bomb_cases(rng):
                    status = send_raw(server.rest_port, data, timeout=120)
                    figures["bombs"][label] = status
                    if status is None or status >= 500:
                        figures["unintended"].append(f"bomb {label}: {status}")
                import tensorflow as tf
                from tensorflow_serving.apis import predict_pb2

                request = predict_pb2.PredictRequest()
                request.model_spec.name = "tiny"
                proto = request.inputs["images"]
                proto.dtype = tf.float32.as_datatype_enum
                for size in (10**9, 8, 8, 1):
                    proto.tensor_shape.dim.add(size=size)
                proto.float_val.append(1.0)
                figures["bombs"]["grpc_shape_1e9x8x8x1"] = code = call_grpc(channel, "/tensorflow.serving."
                                                                            "PredictionService/Predict", request)
                if code in UNINTENDED_GRPC:
                    figures["unintended"].append(f"bomb grpc shape: {code}")
                memory["after_bombs_mb"] = server.rss_mb()
        memory["growth_after_bombs_mb"] = round(memory.get("after_bombs_mb", memory["after_generated_mb"])
                                                - memory["start_mb"], 1)
        figures["memory"] = memory
        figures["alive"] = server.alive()
        figures["same_answer_after"] = valid_prediction(server.rest_port) == expected
    finally:
        server.stop()
    figures["requests"] = {"rest": rest, "grpc": grpc_requests}
    if verbose:
        print(f"REST {rest} generated requests by status: {dict(sorted(figures['rest'].items()))} "
              f"({figures['rest_seconds']} s)")
        print(f"gRPC {grpc_requests} generated requests by code: {dict(sorted(figures['grpc'].items()))}")
        print(f"bombs: {figures['bombs']}")
        print(f"server memory (VmRSS): {figures['memory']}")
        print(f"unintended answers: {len(figures['unintended'])}; alive: {figures['alive']}; same answer to a valid "
              f"request afterwards: {figures['same_answer_after']}")
        for line in figures["unintended"][:20]:
            print("  ", line)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rest", type=int, default=2000, help="generated REST requests")
    parser.add_argument("--grpc", type=int, default=200, help="generated gRPC requests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-bombs", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/serving_fuzz.json")
    args = parser.parse_args(argv)
    figures = run(rest=args.rest, grpc_requests=args.grpc, seed=args.seed, bombs=not args.no_bombs)
    if not args.no_write:
        sys.path.append(_HERE)
        from common import write_results

        print("wrote", write_results("serving_fuzz", figures))
    ok = (not figures["unintended"] and figures["alive"] and figures["same_answer_after"]
          and figures["memory"]["growth_after_bombs_mb"] <= MEMORY_BUDGET_MB)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
