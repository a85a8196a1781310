"""TF Serving's REST API over the standard library's ``ThreadingHTTPServer``.

Routes (as TF Serving's ``http_rest_api_handler``; names are case-insensitive, a version is digits):

- ``GET  /v1/models`` — every model with its versions and their states (kerazoo's; TF Serving has no list).
- ``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]`` — model status.
- ``GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata`` — SignatureDefs, and the version's model card
  (``model_card``: what ``kerazoo export`` wrote in ``kerazoo.json``; absent when there is none, as in TF Serving).
- ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict`` — ``instances`` (rows) or ``inputs`` (columns),
  optional ``signature_name``; answers ``predictions`` or ``outputs``. Files go to the ``serving_bytes``
  signature as ``{"signature_name": "serving_bytes", "instances": [{"b64": "<base64 JPEG/PNG>"}]}``.
- ``POST ...:classify`` / ``...:regress`` — ``examples`` (+ ``context``) for signatures whose method allows it;
  answers ``results``.
- ``GET  /monitoring/prometheus/metrics`` — Prometheus text.

Errors are ``{"error": "..."}`` with TF Serving's HTTP status for the code (see ``errors.py``); a body over the
size limit is refused with 413 before it is read, one holding more JSON values than ``max_json_values`` with 400
before it is decoded, and a body that stops arriving with 408. Nothing a client sends stops the server.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np
from google.protobuf import json_format

try:
    import orjson
except ImportError:  # the standard library is used instead (slower)
    orjson = None

from kerazoo.serving.config import DEFAULT_METRICS_PATH as METRICS_PATH
from kerazoo.serving.errors import ServingError, invalid_argument
from kerazoo.serving.service import ServingService
from kerazoo.serving.tensors import array_to_json, is_b64, json_to_array, json_to_examples, numeric_text_array

log = logging.getLogger("kerazoo.serving")

_PREDICT = re.compile(r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
                      re.IGNORECASE)
_STATUS = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
                     re.IGNORECASE)
JSON_TYPE = "application/json"
DEFAULT_MAX_JSON_VALUES = 2**23  # ~8.4M numbers: 43 images of 224x224x3 in one request


def _to_dict(message) -> dict:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True,
                                     preserving_proto_field_name=True)


def _loads(body: bytes):
    """orjson when installed; the standard library for what orjson refuses and TF Serving accepts (NaN and
    Infinity literals, integers beyond 64 bits), so both give the same documents."""
    if orjson is not None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def _fast_output(array: np.ndarray) -> bool:
    """Whether orjson can write ``array`` itself as TF Serving would: numbers, no NaN or infinity (orjson writes
    those as null; TF Serving writes the literals). float32 is written in its shortest round-trip form, as TF
    Serving's json_tensor does."""
    kind = array.dtype.kind
    if orjson is None or kind not in "biuf" or (kind == "f" and array.dtype.itemsize < 4):
        return False
    return kind != "f" or bool(np.isfinite(array).all())


def error_body(message: str) -> bytes:
    return _dumps({"error": message})


class RestApi:
    """Routing and JSON handling, independent of the HTTP machinery: ``handle(method, path, body)``.

    JSON decoding and encoding hold Python's GIL in long C calls; with one thread per connection, dozens of
    threads decoding at once would starve the batching thread of the GIL. ``json_workers`` bounds how many
    requests decode or encode JSON at the same time (the others wait on a lock, which does not hold the GIL).
    """

    def __init__(self, service: ServingService, *, json_workers: int | None = None,
                 max_json_values: int = DEFAULT_MAX_JSON_VALUES, metrics_path: str | None = METRICS_PATH):
        if max_json_values < 1:
            raise ValueError(f"Invalid max_json_values: expected >= 1. Received: {max_json_values}")
        self.service = service
        self.metrics_path = metrics_path  # None: no metrics route
        self.max_json_values = max_json_values
        self._gate = threading.BoundedSemaphore(json_workers or max(2, min(4, os.cpu_count() or 1)))

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, bytes, str]:
        """Answer one request: (HTTP status, body bytes, content type)."""
        path = urlsplit(target).path
        start = time.perf_counter()
        model, api = "", ""
        try:
            if path == self.metrics_path and method == "GET":
                return 200, self.service.metrics.render().encode("utf-8"), "text/plain; version=0.0.4"
            if not path.lower().startswith("/v1/"):
                raise ServingError("NOT_FOUND", f"Not found: {method} {path}")
            match = _PREDICT.fullmatch(path) if method == "POST" else None
            if match:
                model, version, label, api = match.group(1), match.group(2), match.group(3), match.group(4).lower()
                payload = self._infer(api, model, _version(version), label, body)
                self._record(model, api, "OK", start)
                return 200, payload, JSON_TYPE
            match = _STATUS.fullmatch(path) if method == "GET" else None
            if match:
                model, version, label, sub = match.groups()
                api = "GetModelMetadata" if sub else "GetModelStatus"
                if not model:
                    if version or label or sub:
                        raise invalid_argument("Missing model name in request.")
                    return self._ok({"models": self.service.list_models()}, model, "ListModels", start)
                if sub:
                    servable = self.service.servable(model, _version(version), label)
                    response, signature_map = self.service.metadata(servable)
                    payload = {"model_spec": _to_dict(response.model_spec),
                               "metadata": {"signature_def": _to_dict(signature_map)}}
                    if servable.card:  # kerazoo's addition; absent (as in TF Serving) when the version has none
                        payload["metadata"]["model_card"] = servable.card
                else:
                    payload = _to_dict(self.service.status(model, _version(version), label))
                return self._ok(payload, model, api, start)
            raise invalid_argument(f"Malformed request: {method} {path}")
        except ServingError as error:
            self._record(model, api, error.code, start)
            return error.http_status, error_body(error.message), JSON_TYPE
        except Exception as error:  # a bug, not the client's doing: report it, keep serving
            log.exception("internal error on %s %s", method, path)
            self._record(model, api, "INTERNAL", start)
            internal = ServingError("INTERNAL", f"Internal error: {type(error).__name__}: {error}")  # cut to size
            return 500, error_body(internal.message), JSON_TYPE

    def _ok(self, payload, model: str, api: str, start: float) -> tuple[int, bytes, str]:
        body = _encode(payload)
        self._record(model, api, "OK", start)
        return 200, body, JSON_TYPE

    def _record(self, model: str, api: str, code: str, start: float) -> None:
        if api:
            self.service.record_request(model, api, "REST", code, time.perf_counter() - start)

    # -- predict / classify / regress --------------------------------------------------------------------------

    def _infer(self, api: str, model: str, version: int | None, label: str | None, body: bytes) -> bytes:
        servable = self.service.servable(model, version, label)
        if api == "predict":
            with self._gate:
                numeric = numeric_predict_inputs(body, servable, self.max_json_values)
            if numeric is not None:
                return self._predict(servable, *numeric)
        with self._gate:
            document = parse_json_object(body, self.max_json_values)
            signature_name = document.get("signature_name", "")
            if not isinstance(signature_name, str):
                raise invalid_argument("'signature_name' key must be a string value.")
            if api in ("classify", "regress"):
                examples = json_to_examples(document)
        if api == "classify":
            result = self.service.classify(servable, signature_name, examples)
            with self._gate:
                return _encode({"results": [[[label, score] for label, score in row] for row in result]})
        if api == "regress":
            result = self.service.regress(servable, signature_name, examples)
            with self._gate:
                return _encode({"results": result})
        signature = servable.signature(signature_name)
        has_rows, has_columns = "instances" in document, "inputs" in document
        if has_rows and has_columns:
            raise invalid_argument("Not formatted correctly expecting only one of 'inputs' or 'instances' keys "
                                   "exclusively")
        if not has_rows and not has_columns:
            raise invalid_argument("Missing 'inputs' or 'instances' key")
        with self._gate:
            if has_rows:
                inputs = rows_to_arrays(document["instances"], signature)
            else:
                inputs = columns_to_arrays(document["inputs"], signature)
        rows = len(document["instances"]) if has_rows else None
        # The decoded lists are thousands of GC-tracked objects per request: alive while the request waits for its
        # batch, the collector would promote them to the oldest generation, whose growth triggers full collections
        # that scan all of TensorFlow's objects (measured: most of the REST server's GIL time at concurrency 64).
        del document
        return self._predict(servable, signature, inputs, rows)

    def _predict(self, servable, signature, inputs: dict, rows: int | None) -> bytes:
        """Run a predict request's inputs; the answer in row format (``predictions``) when ``rows`` is a count."""
        outputs = self.service.predict(servable, signature, inputs)
        with self._gate:
            if all(_fast_output(value) for value in outputs.values()):
                return _encode_arrays(outputs, rows)
            if rows is not None:
                return _encode({"predictions": outputs_to_rows(outputs, rows)})
            if len(outputs) == 1:
                (name, value), = outputs.items()
                return _encode({"outputs": array_to_json(value, name)})
            return _encode({"outputs": {name: array_to_json(value, name) for name, value in outputs.items()}})


def _encode(payload) -> bytes:
    try:
        return _dumps(payload)
    except (TypeError, ValueError) as error:
        raise ServingError("INTERNAL", f"Failed to encode the response as JSON: {error}") from None


MAX_VERSION = 2**63 - 1  # versions are int64 in TF Serving's protos


def _encode_arrays(outputs: dict, rows: int | None) -> bytes:
    """A predict answer from numeric outputs, written by orjson from the arrays (no Python lists in between)."""
    outputs = {name: np.ascontiguousarray(value) for name, value in outputs.items()}
    if rows is not None:
        check_rows(outputs, rows)
        if len(outputs) == 1:
            payload = {"predictions": next(iter(outputs.values()))}
        else:
            payload = {"predictions": [{name: value[i] for name, value in outputs.items()} for i in range(rows)]}
    elif len(outputs) == 1:
        payload = {"outputs": next(iter(outputs.values()))}
    else:
        payload = {"outputs": outputs}
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def _version(text: str | None) -> int | None:
    """A version from the path; one that is not an int64 fails as TF Serving's does (400, never int() on megabytes)."""
    if not text:
        return None
    digits = text.lstrip("0") or "0"  # TF Serving's testdata names versions 00000123
    if len(digits) > 19 or int(digits) > MAX_VERSION:
        raise invalid_argument(f"Failed to convert version: {_short(text.encode())}")
    return int(digits)


def parse_json_object(body: bytes, max_values: int = DEFAULT_MAX_JSON_VALUES) -> dict:
    """The request body as a JSON object, refused before it is decoded when it could hold more than ``max_values``
    values (a decoded value costs ~30 bytes of Python objects, 10x its text: the body limit alone does not bound
    the memory a request takes)."""
    if not body.strip():
        raise invalid_argument("JSON Parse error: The document is empty")
    check_value_count(body, max_values)
    try:
        document = _loads(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid_argument(f"JSON Parse error: Invalid value ({error})") from None
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {_short(body)} Is not object")
    return document


def check_value_count(body: bytes, max_values: int) -> None:
    # Every value but the last of each array or object is followed by a comma: an upper bound, counted in C.
    values = body.count(b",") + 1
    if values > max_values:
        raise invalid_argument(f"The request holds up to {values} JSON values, over the server's limit of "
                               f"{max_values} (--max-json-values)")


_ARRAY_CHARACTERS = b"-0123456789.eE+,[] \t\r\n"  # of an array of JSON numbers
_ARRAY_START = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*\[")
_NUMERIC_ARRAY = re.compile(rb"\[[-0-9.eE+,\[\] \t\r\n]*\]")


def numeric_predict_inputs(body: bytes, servable, max_values: int = DEFAULT_MAX_JSON_VALUES):
    """``(signature, inputs, rows)`` of a predict body whose tensor is one array of numbers for a one-input
    signature of known shape (an image batch, the common request), read from its text straight into NumPy; None
    for every other body, which the general path then reads (and words its errors).

    The general path decodes the nested lists (a Python object per number and per row: ~85 µs for one 32x32x3
    image, and more while the collector scans them) and then writes them back to text to read them flat. Here the
    rest of the document is decoded with a 0 in the array's place, and the array's text is read once, flat, after
    its brackets and commas are checked against the shape the signature gives (``tensors.numeric_text_array``)."""
    check_value_count(body, max_values)
    rows_format = body.count(b'"instances"')
    if rows_format + body.count(b'"inputs"') != 1:  # each key once, and only one of them: no duplicate-key rules
        return None
    key = "instances" if rows_format else "inputs"
    at = body.find(b'"%s"' % key.encode()) + len(key) + 2
    colon = _ARRAY_START.match(body, at)
    if colon is None:
        return None
    start, end = colon.end() - 1, body.rfind(b"]") + 1
    if body[start:end].translate(None, _ARRAY_CHARACTERS):  # more after the array: find where the array ends
        array_text = _NUMERIC_ARRAY.match(body, start)
        if array_text is None:
            return None
        end = array_text.end()
    try:
        document = parse_json_object(body[:start] + b"0" + body[end:], max_values)
    except ServingError:
        return None
    signature_name = document.get("signature_name", "")
    if type(document.get(key)) is not int or not isinstance(signature_name, str):  # the key was not at the top
        return None
    signature = servable.signature(signature_name)
    if len(signature.inputs) != 1:
        return None
    (name, info), = signature.inputs.items()
    if info.dtype.name == "string" or not info.shape or any(d is None for d in info.shape[1:]):
        return None
    text = body[start:end]
    per_row = math.prod(info.shape[1:])
    count, extra = divmod(text.count(b",") + 1, per_row) if per_row else (0, 0)
    array = numeric_text_array(text, (count, *info.shape[1:])) if count and not extra else None
    if array is None:
        return None
    return signature, {name: json_to_array(array, info, f"input {name!r}")}, count if rows_format else None


def _short(body: bytes, limit: int = 80) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("..." if len(body) > limit else "")


def rows_to_arrays(instances, signature) -> dict:
    """Row format: a list with one entry per example (a tensor, or an object naming each input)."""
    if not isinstance(instances, list):
        raise invalid_argument("'instances' must be a list of examples")
    if not instances:
        raise invalid_argument("'instances' is an empty list")
    named = [isinstance(x, dict) and not is_b64(x) for x in instances]
    if all(named):
        for i, instance in enumerate(instances):
            if set(instance) != set(signature.inputs):
                unknown = sorted(set(instance) - set(signature.inputs))
                if unknown:
                    raise invalid_argument(f"instances[{i}] has input {unknown[0]!r}, which is not in the signature's "
                                           f"inputs {{{','.join(sorted(signature.inputs))}}}")
                missing = sorted(set(signature.inputs) - set(instance))
                raise invalid_argument(f"instances[{i}] is missing input {missing[0]!r}")
        return {key: json_to_array([x[key] for x in instances], info, f"input {key!r}")
                for key, info in signature.inputs.items()}
    if any(named):
        raise invalid_argument("'instances' mixes objects of named inputs with plain tensors")
    if len(signature.inputs) != 1:
        raise invalid_argument(f"The signature has {len(signature.inputs)} inputs "
                               f"({', '.join(sorted(signature.inputs))}); each instance must be an object naming them")
    (key, info), = signature.inputs.items()
    return {key: json_to_array(instances, info, f"input {key!r}")}


def columns_to_arrays(inputs, signature) -> dict:
    """Columnar format: one tensor (single-input signatures) or an object of named tensors."""
    if isinstance(inputs, dict) and not is_b64(inputs):
        ServingService.check_input_names(signature, inputs)
        return {key: json_to_array(value, signature.inputs[key], f"input {key!r}") for key, value in inputs.items()}
    if len(signature.inputs) != 1:
        raise invalid_argument(f"The signature has {len(signature.inputs)} inputs "
                               f"({', '.join(sorted(signature.inputs))}); 'inputs' must be an object naming them")
    (key, info), = signature.inputs.items()
    return {key: json_to_array(inputs, info, f"input {key!r}")}


def check_rows(outputs: dict, count: int) -> None:
    """Every output has ``count`` rows (row format answers need that)."""
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != count:
            raise invalid_argument(f"Tensor name: {name} has inconsistent batch size: "
                                   f"{value.shape[0] if value.ndim else 0} expecting: {count}")


def outputs_to_rows(outputs: dict, count: int) -> list:
    check_rows(outputs, count)
    if len(outputs) == 1:
        (name, value), = outputs.items()
        return array_to_json(value, name)
    columns = {name: array_to_json(value, name) for name, value in outputs.items()}
    return [{name: column[i] for name, column in columns.items()} for i in range(count)]


# ---------------------------------------------------------------------------------------------------------------
# HTTP server


class _BodyTooLarge(Exception):
    def __init__(self, message: str, size: int = 0):
        super().__init__(message)
        self.size = size


_MAX_LINE = 65536  # the stdlib's limits for a header line and the number of headers
_MAX_HEADERS = 100


class _Headers(dict):
    """Request headers by lower-case name; ``get`` takes any case."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The stdlib's default, HTTP/0.9, answers errors in a request line without a status line.
    default_request_version = "HTTP/1.0"
    server_version = "kerazoo-serving"
    timeout = 120  # seconds an idle keep-alive connection is kept
    disable_nagle_algorithm = True  # small JSON answers must not wait for the client's delayed ACK

    def parse_request(self):
        """The request line and headers, read here rather than by the stdlib's email parser (~80 µs a request)."""
        words = self.raw_requestline.split()
        if len(words) != 3 or words[2] not in (b"HTTP/1.0", b"HTTP/1.1"):
            # HTTP/0.9 ("GET /path"), garbage and other versions: a 400 with a status line (the stdlib would
            # answer 0.9 without one, and 2.0 or 9.9 with a 505, a server error for a client's mistake).
            return self._refuse(400, "Bad request line: expected 'METHOD PATH HTTP/1.1' (or HTTP/1.0)")
        self.command, path, self.request_version = (word.decode("latin-1") for word in words)
        self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path  # as the stdlib: never host-relative
        headers = _Headers()
        name = None
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                return self._refuse(431, "Line too long")
            if line in (b"\r\n", b"\n", b""):
                break
            if line[:1] in (b" ", b"\t") and name:  # an obsolete folded continuation of the previous header
                headers[name] += " " + line.strip().decode("latin-1")
                continue
            key, colon, value = line.partition(b":")
            name = key.strip().lower().decode("latin-1")
            if not colon or not name:
                return self._refuse(400, "Malformed header line")
            value = value.strip().decode("latin-1")
            if name in ("content-length", "transfer-encoding") and headers.get(name, value) != value:
                return self._refuse(400, f"Conflicting {name} headers")  # request smuggling
            headers[name] = value
            if len(headers) > _MAX_HEADERS:
                return self._refuse(431, "Too many headers")
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (self.request_version == "HTTP/1.0"
                                                          and connection != "keep-alive")
        if self.request_version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _refuse(self, code: int, message: str) -> bool:
        self.command, self.request_version = None, self.default_request_version
        self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")[:200]
        self.send_error(code, message)
        return False

    def send_error(self, code, message=None, explain=None):
        """The stdlib's errors (bad request line, header too long) as TF Serving-style JSON."""
        self.close_connection = True
        try:
            self._send(code, error_body(message or self.responses.get(code, ("",))[0]), JSON_TYPE)
        except OSError:
            pass

    def __getattr__(self, name):
        if name.startswith("do_"):  # any other method: TF Serving's "Malformed request" (400)
            return self._dispatch
        raise AttributeError(name)

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        try:
            body = self._read_body()
        except _BodyTooLarge as error:
            self.close_connection = True
            self._send(413, error_body(str(error)), JSON_TYPE)
            self._discard_body(error.size)
            return
        except ValueError as error:
            self.close_connection = True
            self._send(400, error_body(str(error)), JSON_TYPE)
            return
        except TimeoutError:
            self.close_connection = True
            self._send(408, error_body(f"Request body did not arrive within {self.server.body_timeout:g} s "
                                       "(is its Content-Length right?)"), JSON_TYPE)
            return
        status, payload, content_type = self.server.api.handle(self.command, self.path, body)
        self._send(status, payload, content_type)

    def _read_body(self) -> bytes:
        self.connection.settimeout(self.server.body_timeout)
        try:
            return self._read_body_now()
        finally:
            self.connection.settimeout(self.timeout)

    def _read_body_now(self) -> bytes:
        limit = self.server.max_request_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise ValueError(f"Invalid Content-Length: {length!r}") from None
        if size < 0:
            raise ValueError(f"Invalid Content-Length: {length!r}")
        if size > limit:
            raise _BodyTooLarge(f"Request body of {size} bytes exceeds the limit of {limit} bytes", size)
        body = self.rfile.read(size)
        if len(body) != size:
            raise ValueError("Request body ended early")
        return body

    def _discard_body(self, size: int) -> None:
        """After refusing a body, read (a bounded part of) it so the client sees the answer, not a reset."""
        try:
            self.wfile.flush()
            self.connection.settimeout(1.0)
            left = min(size, 16 * self.server.max_request_bytes, 256 * 2**20)
            deadline = time.monotonic() + 2.0
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 1 << 20)) if hasattr(self.rfile, "read1") else b""
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _read_chunked(self, limit: int) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ValueError("Invalid chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BodyTooLarge(f"Request body exceeds the limit of {limit} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        """The status line, headers and body in one write: one system call and one TCP segment for small answers
        (the stdlib writes the headers and the body separately)."""
        if log.isEnabledFor(logging.DEBUG):
            self.log_request(status)
        reason = self.responses.get(status, ("",))[0]
        connection = "Connection: close\r\n" if self.close_connection else ""
        head = (f"HTTP/1.1 {status} {reason}\r\nServer: {self.server_version}\r\nDate: {_http_date()}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n{connection}\r\n"
                ).encode("latin-1")
        self.wfile.write(head + payload if self.command != "HEAD" and payload else head)


_date_cache = [0, ""]


def _http_date() -> str:
    """The Date header, formatted once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return _date_cache[1]


class RestServer(ThreadingHTTPServer):
    """A threaded HTTP server for :class:`RestApi`; tracks connections so :meth:`stop` closes them all."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True
    body_timeout = 10.0  # seconds between a body's bytes before it is given up (408): a lying Content-Length

    def __init__(self, address: tuple[str, int], api: RestApi, *, max_request_bytes: int, reuse_port: bool = False):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.allow_reuse_port = reuse_port  # several worker processes on one port (kerazoo serve --workers)
        self.api = api
        self.max_request_bytes = max_request_bytes
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="rest-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
