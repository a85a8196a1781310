"""Errors with TF Serving's status codes, and how each one maps to an HTTP status and a gRPC code.

Every failure the server reports is a :class:`ServingError` carrying one of the ``tensorflow.error.Code`` names
(the same names as ``grpc.StatusCode``). REST answers ``{"error": message}`` with :func:`http_status` of the code,
exactly as TF Serving's ``ToHTTPStatusCode`` does; gRPC aborts with the code of the same name.
"""

from __future__ import annotations

import re

# TF Serving's http_server.cc: ToHTTPStatusCode.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

# tensorflow/core/protobuf/error_codes.proto numbers, for TF's OpError.error_code.
_CODE_NAMES = {number: name for number, name in enumerate(
    ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
     "INTERNAL", "UNAVAILABLE", "DATA_LOSS"])}
_CODE_NAMES[16] = "UNAUTHENTICATED"
MAX_MESSAGE_CHARS = 1000  # an error never echoes more of the request than this


class ServingError(Exception):
    """A request failed with a TF Serving status ``code`` (e.g. ``"NOT_FOUND"``) and a one-line ``message``."""

    def __init__(self, code: str, message: str):
        if code not in HTTP_STATUS or code == "OK":
            raise ValueError(f"Invalid code: expected one of {sorted(HTTP_STATUS)} except OK. Received: code={code!r}")
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + f"... ({len(message) - MAX_MESSAGE_CHARS} more characters)"
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def __repr__(self) -> str:
        return f"ServingError({self.code}, {self.message!r})"


def invalid_argument(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)


def code_name(number: int) -> str:
    """The name of a ``tensorflow.error.Code`` number (``UNKNOWN`` for numbers it does not know)."""
    return _CODE_NAMES.get(int(number), "UNKNOWN")


def from_exception(error: BaseException) -> ServingError:
    """Map an exception raised while running a model to a ServingError.

    TensorFlow's ``OpError`` keeps its own code (a bad input is INVALID_ARGUMENT, hence 400). Python-level argument
    errors from a signature call are the caller's fault (INVALID_ARGUMENT); anything else is INTERNAL.
    """
    if isinstance(error, ServingError):
        return error
    number = getattr(error, "error_code", None)
    if isinstance(number, int) and number != 0:
        return ServingError(code_name(number), op_error_message(getattr(error, "message", None) or str(error)))
    if isinstance(error, (TypeError, ValueError)):
        return invalid_argument(_first_line(str(error), type(error).__name__))
    return ServingError("INTERNAL", f"{type(error).__name__}: {_first_line(str(error), '')}")


def _first_line(text: str, default: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:500] if lines else default


def op_error_message(text: str) -> str:
    """The informative line(s) of a TensorFlow OpError, without "Graph execution error", stacks and node names."""
    keep = []
    for line in text.splitlines():
        stripped = line.strip()
        if (not stripped or stripped.startswith(("Graph execution error", "Detected at node", "<stack traces",
                                                 "[[", "File \"")) or line.startswith("  ")):
            continue
        keep.append(re.sub(r"\s*\[Op:[^\]]*\]$", "", stripped))
    return " ".join(keep)[:500] or _first_line(text, "TensorFlow error")
