"""Tensors in and out of TF Serving's two wire formats: REST JSON and gRPC ``TensorProto``.

JSON follows TF Serving's REST conventions: nested lists for tensors, ``{"b64": "..."}`` for binary strings (and
for string outputs whose name ends in ``_bytes``), ``NaN``/``Infinity`` literals. Every conversion checks the value
against the signature's dtype and shape and raises INVALID_ARGUMENT naming the input, so a bad request never
reaches the model.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math

import numpy as np

try:
    import orjson
except ImportError:  # nested lists go through np.asarray only (slower)
    orjson = None

from kerazoo.serving.errors import invalid_argument
from kerazoo.serving.repository import TensorInfo

_NUMERIC_OK = {"f": "iuf", "c": "iufc", "i": "iu", "u": "iu", "b": "b"}
MAX_RANK = 32  # deeper nesting is refused before NumPy (at most 64 dimensions) or the recursion limit is reached
_NUMBER_CHARACTERS = b"0123456789.-+eE"
_WHITESPACE = b" \t\r\n"  # JSON's


@functools.lru_cache(maxsize=64)
def _skeleton(dims: tuple[int, ...]) -> bytes:
    """The brackets and commas of a JSON array of shape ``dims`` once its numbers are removed."""
    if len(dims) == 1:
        return b"[" + b"," * (dims[0] - 1) + b"]"
    return b"[" + b",".join([_skeleton(dims[1:])] * dims[0]) + b"]"


def _numeric_array(value) -> np.ndarray | None:
    """Nested lists of numbers as an int64 or float64 array by way of orjson's C code, or None when ``value`` is
    not a non-empty rectangular nested list of numbers (the general path then decides, and words the error).

    ``np.asarray`` walks every Python object of a nested list, ~10x slower than this: orjson writes the lists back
    to text, which :func:`numeric_text_array` reads."""
    if orjson is None or not isinstance(value, list):
        return None
    dims, probe = [], value
    while isinstance(probe, list) and probe and len(dims) <= MAX_RANK:
        dims.append(len(probe))
        probe = probe[0]
    if isinstance(probe, list) or len(dims) > MAX_RANK:
        return None
    try:
        text = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, or another type orjson cannot write
        return None
    return numeric_text_array(text, tuple(dims))


def numeric_text_array(text: bytes, dims: tuple[int, ...]) -> np.ndarray | None:
    """A JSON array's text as an int64 or float64 array of shape ``dims``, or None unless the text is exactly that:
    the brackets and commas of a rectangular array of that shape (whitespace aside) and nothing but JSON numbers
    between them. No Python list per row is made: the text without its brackets is one flat list of numbers."""
    if orjson is None or not dims or len(dims) > MAX_RANK or not all(dims):
        return None
    if text.translate(None, _NUMBER_CHARACTERS + _WHITESPACE) != _skeleton(dims):
        return None
    try:
        numbers = orjson.loads(b"[" + text.translate(None, b"[]") + b"]")
    except orjson.JSONDecodeError:  # not JSON numbers: "1 2", "01", "1e", an empty place between commas
        return None
    if len(numbers) != math.prod(dims):
        return None
    # np.array's types (int64, or float64 once one number is written as a float) without its pass to find them
    floats = text.translate(None, b".eE") != text
    try:
        array = np.fromiter(numbers, np.float64 if floats else np.int64, len(numbers))
    except (OverflowError, TypeError):  # an integer above int64's range (np.array would make it uint64)
        return None
    return array.reshape(dims)


def is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def dtype_enum_name(dtype) -> str:
    """TF Serving's name of a tf.DType: DT_FLOAT, DT_STRING, ..."""
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def _dtype_name(info: TensorInfo) -> str:
    return dtype_enum_name(info.dtype)


def json_to_array(value, info: TensorInfo, where: str) -> np.ndarray:
    """A JSON value (number, nested lists, strings, ``{"b64": ...}``) as an array of the input's dtype and shape."""
    if info.dtype.name == "string":
        array = _string_array(value, where)
    else:
        target = info.np_dtype
        allowed = _NUMERIC_OK.get(target.kind)
        if allowed is None and info.dtype.name == "bfloat16":
            allowed = "iuf"
        if allowed is None:
            raise invalid_argument(f"{where}: inputs of type {_dtype_name(info)} cannot be sent as JSON")
        try:
            array = _numeric_array(value)
            if array is None:
                array = np.asarray(value)
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError):
            raise invalid_argument(f"{where}: expected a tensor of {_dtype_name(info)}; the nested lists are ragged "
                                   "or hold non-numbers") from None
        if array.dtype.kind not in allowed:
            if is_b64(value) or (array.dtype == object and _contains_b64(array)):
                raise invalid_argument(f"{where}: {{\"b64\": ...}} binary values are only for DT_STRING inputs; "
                                       f"this input is {_dtype_name(info)}")
            got = {"U": "strings", "O": "non-numbers or numbers out of range", "b": "booleans"}.get(
                array.dtype.kind, f"values of type {array.dtype}")
            # "not of expected type" is TF Serving's wording; clients match on it.
            raise invalid_argument(f"{where}: expected {_dtype_name(info)} values, got {got} (not of expected type: "
                                   f"{target.name.replace('float32', 'float')})")
        if target.kind in "iu" and array.size:
            limits = np.iinfo(target)
            if array.min() < limits.min or array.max() > limits.max:
                raise invalid_argument(f"{where}: value out of range for {_dtype_name(info)}")
        with np.errstate(over="ignore", invalid="ignore"):
            array = array.astype(target, copy=False)
    check_shape(array, info, where)
    return array


def _contains_b64(array: np.ndarray) -> bool:
    return any(is_b64(v) for v in array.ravel()[:8])


def _string_leaf(value, where: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if is_b64(value) and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid_argument(f"{where}: the \"b64\" value is not valid base64") from None
    if isinstance(value, dict):
        raise invalid_argument(f"{where}: an object in a tensor must be {{\"b64\": \"<base64 string>\"}}")
    raise invalid_argument(f"{where}: expected DT_STRING values (strings or {{\"b64\": ...}}), "
                           f"got {type(value).__name__}")


def _nested(value, where: str, leaf, depth: int = 0):
    if isinstance(value, list):
        if depth >= MAX_RANK:
            raise invalid_argument(f"{where}: the value is nested more than {MAX_RANK} levels deep")
        if not value:
            return [], (0,)
        flat, shape = [], None
        for item in value:
            part, part_shape = _nested(item, where, leaf, depth + 1)
            if shape is None:
                shape = part_shape
            elif part_shape != shape:
                raise invalid_argument(f"{where}: the nested lists are ragged (shapes {shape} and {part_shape})")
            flat.extend(part)
        return flat, (len(value), *shape)
    return [leaf(value, where)], ()


def _string_array(value, where: str) -> np.ndarray:
    try:
        flat, shape = _nested(value, where, _string_leaf)
    except RecursionError:
        raise invalid_argument(f"{where}: the value is nested too deeply") from None
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


def check_shape(array: np.ndarray, info: TensorInfo, where: str) -> None:
    """Raise INVALID_ARGUMENT unless ``array`` fits the signature's shape (unknown dims match anything)."""
    if info.shape is None:
        return
    if array.ndim != len(info.shape) or any(d is not None and d != a for a, d in zip(array.shape, info.shape)):
        got = "[" + ",".join(str(d) for d in array.shape) + "]"
        raise invalid_argument(f"{where}: expected shape {info.shape_text()} (-1: any size), got {got}")


def array_to_json(array: np.ndarray, name: str):
    """An output array as JSON-ready lists; strings as text, or ``{"b64": ...}`` for ``*_bytes`` names and binary."""
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind in "SU":
        as_b64 = name.endswith("_bytes")
        flat = [_string_out(v, as_b64) for v in array.ravel()]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape).tolist()
    if array.dtype.kind == "c":
        return np.stack([array.real, array.imag], axis=-1).tolist()
    if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and array.dtype.itemsize < 4):
        array = array.astype(np.float32)  # float16, bfloat16
    return array.tolist()


def _string_out(value, as_b64: bool):
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


# -- gRPC TensorProto ----------------------------------------------------------------------------------------


# DataType enums whose values travel as raw little-endian bytes in ``tensor_content``, with their NumPy dtypes:
# the request and response fast path (np.frombuffer / tobytes, no TensorFlow call). Others (strings, bfloat16,
# complex, quantized) go through tf.make_ndarray / tf.make_tensor_proto.
_CONTENT_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
                   17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
# tf.make_tensor_proto writes uint16 as int_val, so responses do too (they stay byte for byte TensorFlow's).
_CONTENT_ENUMS = {np.dtype(v): k for k, v in _CONTENT_DTYPES.items() if v is not np.uint16}
# The per-element fields a client may fill instead of tensor_content, by DataType enum.
_VALUE_FIELDS = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
                 9: "int64_val", 10: "bool_val", 17: "int_val", 22: "uint32_val", 23: "uint64_val"}


def proto_to_array(proto, info: TensorInfo, where: str, max_elements: int | None = None) -> np.ndarray:
    """A request TensorProto as an array; its dtype must be the signature's and its shape must fit. A shape of more
    than ``max_elements`` elements is refused before the array is made (a proto declaring [10**9] with one value
    would otherwise be broadcast into gigabytes)."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if len(dims) > MAX_RANK or any(d < 0 for d in dims):
        raise invalid_argument(f"{where}: invalid tensor shape {dims[:MAX_RANK + 1]}")
    count = math.prod(dims)
    if max_elements is not None and count > max_elements:
        raise invalid_argument(f"{where}: {count} elements, over the server's limit of {max_elements} "
                               "per request (--max-request-elements)")
    array = _fast_proto_array(proto, info, dims, count)
    if array is None:
        array = _proto_array(proto, info, where)
    check_shape(array, info, where)
    return array


def _fast_proto_array(proto, info: TensorInfo, dims: list[int], count: int) -> np.ndarray | None:
    """The array of a well-formed numeric TensorProto of the signature's dtype without TensorFlow (3 µs instead of
    tf.make_ndarray's 12 for a 32x32x3 float32 image), or None: anything else (other dtypes, a wrong dtype, broadcast values, lengths that
    do not match) takes the general path, which also words the errors."""
    enum = proto.dtype
    if enum != info.dtype.as_datatype_enum:
        return None
    dtype = _CONTENT_DTYPES.get(enum)
    if proto.tensor_content:
        if dtype is None or len(proto.tensor_content) != count * np.dtype(dtype).itemsize:
            return None
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(dims).copy()  # writable, as make_ndarray's
    field = _VALUE_FIELDS.get(enum)
    if field is None or count == 0:
        return None
    values = getattr(proto, field)
    if len(values) != count:  # one value broadcast over the shape, or a malformed proto: make_ndarray decides
        return None
    try:
        # np.fromiter as make_ndarray: it refuses what np.array would wrap around (300 in a DT_UINT8's int_val)
        return np.fromiter(values, dtype=dtype or np.bool_, count=count).reshape(dims)
    except (OverflowError, ValueError, TypeError):
        return None


def _proto_array(proto, info: TensorInfo, where: str) -> np.ndarray:
    import tensorflow as tf

    try:
        dtype = tf.dtypes.as_dtype(proto.dtype)
    except TypeError:
        raise invalid_argument(f"{where}: unknown dtype {proto.dtype}") from None
    if dtype != info.dtype:
        raise invalid_argument(f"{where}: expected dtype {_dtype_name(info)}, got {dtype_enum_name(dtype)}")
    try:
        return tf.make_ndarray(proto)
    except Exception as error:
        raise invalid_argument(f"{where}: the TensorProto is malformed ({type(error).__name__}: {error})") from None


def fill_proto(proto, array: np.ndarray) -> None:
    """Write ``array`` into an empty TensorProto (a response's output), byte for byte what
    ``tf.make_tensor_proto(array)`` gives for native-order arrays: numeric arrays of more than one element as
    ``tensor_content``, the rest through TensorFlow."""
    if array.dtype.byteorder == ">":  # tensor_content is little-endian (tf.make_tensor_proto would copy the bytes)
        array = array.astype(array.dtype.newbyteorder("<"))
    enum = _CONTENT_ENUMS.get(array.dtype)
    if enum is None or array.size <= 1 or array.nbytes >= 1 << 31:
        proto.CopyFrom(array_to_proto(array))
        return
    proto.dtype = enum
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    proto.tensor_content = array.tobytes()  # C order, native (little-endian) bytes: what tensor_content holds


def array_to_proto(array: np.ndarray):
    import tensorflow as tf

    return tf.make_tensor_proto(array)


# -- tf.Example for classify / regress ----------------------------------------------------------------------


def _feature(value, where: str):
    from tensorflow.core.example import feature_pb2

    values = value if isinstance(value, list) else [value]
    if not values:
        raise invalid_argument(f"{where}: a feature needs at least one value")
    feature = feature_pb2.Feature()
    if all(isinstance(v, bool) for v in values) or any(isinstance(v, (list, dict)) and not is_b64(v) for v in values):
        raise invalid_argument(f"{where}: a feature is a number, a string, {{\"b64\": ...}}, or a flat list of one "
                               "kind of them")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if any(not -(2**63) <= v < 2**63 for v in values):
            raise invalid_argument(f"{where}: integer out of the int64 range")
        feature.int64_list.value.extend(values)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        feature.float_list.value.extend(float(v) for v in values)
    elif all(isinstance(v, str) or is_b64(v) for v in values):
        feature.bytes_list.value.extend(_string_leaf(v, where) for v in values)
    else:
        raise invalid_argument(f"{where}: the values of one feature must all be numbers or all strings")
    return feature


def json_to_examples(body: dict) -> list[bytes]:
    """Serialized tf.Examples from a classify/regress body (``examples`` and optional ``context``)."""
    from tensorflow.core.example import example_pb2

    examples = body.get("examples")
    context = body.get("context", {})
    if not isinstance(examples, list) or not examples:
        raise invalid_argument("'examples' must be a non-empty list of objects")
    if not isinstance(context, dict):
        raise invalid_argument("'context' must be an object of features")
    serialized = []
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            raise invalid_argument(f"examples[{i}] must be an object of features")
        proto = example_pb2.Example()
        for key, value in {**context, **example}.items():
            proto.features.feature[key].CopyFrom(_feature(value, f"examples[{i}].{key}"))
        serialized.append(proto.SerializeToString())
    return serialized


def input_proto_to_examples(input_proto) -> list[bytes]:
    """Serialized tf.Examples from a gRPC ``tensorflow.serving.Input`` (context merged into each example)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        from tensorflow.core.example import example_pb2

        context = input_proto.example_list_with_context.context
        examples = []
        for example in input_proto.example_list_with_context.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            for key, feature in example.features.feature.items():  # the example's features override the context's
                merged.features.feature[key].CopyFrom(feature)
            examples.append(merged.SerializeToString())
    else:
        raise invalid_argument("Input is empty: set example_list or example_list_with_context")
    if not examples:
        raise invalid_argument("Input has no examples")
    return examples
