"""The predict path's fast paths give what the general ones give: gRPC TensorProtos read and written without
TensorFlow (``tensor_content`` and per-element fields), and the garbage collector frozen while a server runs."""

import gc
import shutil
import time
import weakref

import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import images

from kerazoo.serving.errors import ServingError
from kerazoo.serving.repository import TensorInfo
from kerazoo.serving.tensors import _fast_proto_array, fill_proto, proto_to_array
from tensorflow.core.framework import tensor_pb2

NUMERIC = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
           np.uint32, np.uint64]


def _info(dtype, shape=None):
    return TensorInfo(name="x", dtype=tf.as_dtype(dtype), shape=shape)


def _sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(0, 100, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("dtype", NUMERIC + [np.bool_, np.complex64, object])
@pytest.mark.parametrize("shape", [(2, 3, 4), (1,), (), (0, 3), (5,)])
def test_response_proto_is_byte_for_byte_tensorflows(dtype, shape):
    if dtype is np.bool_:
        array = np.arange(int(np.prod(shape))).reshape(shape) % 3 == 0
    elif dtype is np.complex64:
        array = (np.arange(int(np.prod(shape))) * (1 + 2j)).astype(dtype).reshape(shape)
    elif dtype is object:
        array = np.array([b"a%d" % i for i in range(int(np.prod(shape)))], dtype=object).reshape(shape)
    else:
        array = _sample(dtype, shape)
    proto = tensor_pb2.TensorProto()
    fill_proto(proto, array)
    assert proto.SerializeToString() == tf.make_tensor_proto(array).SerializeToString()


def test_response_proto_of_views_and_big_endian_arrays():
    base = _sample(np.float32, (4, 6))
    for array in (base.T, base[:, ::2], base[1], base.astype(">f4")):
        proto = tensor_pb2.TensorProto()
        fill_proto(proto, array)
        native = np.ascontiguousarray(array, dtype=np.float32)  # tf.make_tensor_proto copies big-endian bytes as is
        assert proto.SerializeToString() == tf.make_tensor_proto(native).SerializeToString()
        np.testing.assert_array_equal(tf.make_ndarray(proto), array)


@pytest.mark.parametrize("dtype", NUMERIC)
def test_request_tensor_content_reads_as_make_ndarray(dtype):
    array = _sample(dtype, (3, 4, 2), seed=1)
    proto = tensor_pb2.TensorProto(dtype=tf.as_dtype(dtype).as_datatype_enum, tensor_content=array.tobytes())
    for size in array.shape:
        proto.tensor_shape.dim.add().size = size
    fast = _fast_proto_array(proto, _info(dtype), [3, 4, 2], 24)
    assert fast is not None and fast.dtype == np.dtype(dtype) and fast.flags.writeable
    np.testing.assert_array_equal(fast, tf.make_ndarray(proto))
    np.testing.assert_array_equal(proto_to_array(proto, _info(dtype, (None, 4, 2)), "input 'x'"), array)


@pytest.mark.parametrize("dtype,field", [(np.float32, "float_val"), (np.float64, "double_val"),
                                         (np.int32, "int_val"), (np.uint8, "int_val"), (np.int8, "int_val"),
                                         (np.int64, "int64_val"), (np.bool_, "bool_val"),
                                         (np.uint32, "uint32_val"), (np.uint64, "uint64_val")])
def test_request_value_fields_read_as_make_ndarray(dtype, field):
    array = np.arange(6).reshape(2, 3).astype(dtype) if dtype is not np.bool_ else np.arange(6).reshape(2, 3) % 2 == 0
    proto = tensor_pb2.TensorProto(dtype=tf.as_dtype(dtype).as_datatype_enum)
    proto.tensor_shape.dim.add().size = 2
    proto.tensor_shape.dim.add().size = 3
    getattr(proto, field).extend(array.ravel().tolist())
    fast = _fast_proto_array(proto, _info(dtype), [2, 3], 6)
    assert fast is not None
    np.testing.assert_array_equal(fast, tf.make_ndarray(proto))
    assert fast.dtype == tf.make_ndarray(proto).dtype


def test_request_protos_the_fast_path_leaves_to_tensorflow():
    # one value broadcast over the shape: make_ndarray fills it in
    proto = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum, float_val=[2.5])
    proto.tensor_shape.dim.add().size = 3
    assert _fast_proto_array(proto, _info(np.float32), [3], 3) is None
    np.testing.assert_array_equal(proto_to_array(proto, _info(np.float32), "input 'x'"), [2.5, 2.5, 2.5])
    # a value out of the dtype's range
    proto = tensor_pb2.TensorProto(dtype=tf.uint8.as_datatype_enum, int_val=[300, 1])
    proto.tensor_shape.dim.add().size = 2
    assert _fast_proto_array(proto, _info(np.uint8), [2], 2) is None
    with pytest.raises(Exception, match=r"input 'x': the TensorProto is malformed \(OverflowError"):
        proto_to_array(proto, _info(np.uint8), "input 'x'")
    # strings
    proto = tf.make_tensor_proto(np.array([b"ab", b"c"], dtype=object))
    np.testing.assert_array_equal(proto_to_array(proto, _info(tf.string), "input 'x'"), [b"ab", b"c"])


def test_request_errors_are_unchanged():
    proto = tf.make_tensor_proto(np.zeros((2, 3), np.float32))
    with pytest.raises(Exception, match=r"input 'x': expected dtype DT_INT32, got DT_FLOAT"):
        proto_to_array(proto, _info(np.int32), "input 'x'")
    with pytest.raises(Exception, match=r"input 'x': expected shape \[-1,4\] \(-1: any size\), got \[2,3\]"):
        proto_to_array(proto, _info(np.float32, (None, 4)), "input 'x'")
    short = tensor_pb2.TensorProto()
    short.CopyFrom(proto)
    short.tensor_content = proto.tensor_content[:-4]  # one float short
    with pytest.raises(Exception, match=r"input 'x': the TensorProto is malformed"):
        proto_to_array(short, _info(np.float32), "input 'x'")
    with pytest.raises(Exception, match=r"over the server's limit of 5"):
        proto_to_array(proto, _info(np.float32), "input 'x'", max_elements=5)


def test_grpc_predict_gives_the_same_outputs_for_content_and_value_requests(module_server, reference):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    x = images(3)
    as_content = tf.make_tensor_proto(x)
    as_values = tensor_pb2.TensorProto(dtype=as_content.dtype, tensor_shape=as_content.tensor_shape,
                                       float_val=x.ravel().tolist())
    with grpc.insecure_channel(module_server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        outputs = []
        for tensor in (as_content, as_values):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "tiny"
            request.inputs["images"].CopyFrom(tensor)
            outputs.append(stub.Predict(request, timeout=30).outputs["logits"])
    assert outputs[0].tensor_content and outputs[0].SerializeToString() == outputs[1].SerializeToString()
    np.testing.assert_allclose(tf.make_ndarray(outputs[0]), reference(x, 2), rtol=1e-5, atol=1e-5)


def test_server_freezes_the_heap_and_frees_retired_versions(make_repo, model_store):
    import os

    from kerazoo.serving import serve

    gc.unfreeze()
    repo = make_repo({"tiny": [1]})
    # batching on: a Servable and its Batcher refer to each other, a cycle only the collector frees
    server = serve(repo, rest_port=None, grpc_port=0, poll_interval=0, warmup=False, enable_batching=True)
    try:
        assert server.gc_frozen and gc.get_freeze_count() > 0
        old = weakref.ref(server.repository.get("tiny"))
        shutil.copytree(model_store[2], os.path.join(repo, "tiny", "2"))
        server.repository.poll()  # loads 2, retires 1: one full collection, then the rest is frozen again
        assert server.repository.available_versions("tiny") == [2]
        deadline = time.monotonic() + 30
        while (old() is not None or not gc.get_freeze_count()) and time.monotonic() < deadline:
            time.sleep(0.1)  # collected, then the heap frozen again, a moment after the swap
        assert old() is None  # the retired version was not kept frozen
        assert gc.get_freeze_count() > 0
    finally:
        server.stop()
    assert gc.get_freeze_count() == 0 and not server.gc_frozen
    shutil.rmtree(os.path.join(repo, "tiny", "2"))
    unfrozen = serve(repo, rest_port=None, grpc_port=0, poll_interval=0, warmup=False,
                     freeze_gc=False)
    unfrozen.stop()
    assert gc.get_freeze_count() == 0


# -- REST: a numeric tensor read from the body's text straight into NumPy ------------------------------------------


def _rest_bodies():
    """Predict bodies for the tiny model (images [batch, 8, 8, 1]): ones the text path reads, and ones it must leave
    to the general path (which then answers, or words the error, as before)."""
    import json

    x = images(3)
    pixels = x.astype(int).tolist()
    one = json.dumps({"instances": pixels[:1]})
    return {
        "ints, compact": json.dumps({"instances": pixels}, separators=(",", ":")),
        "ints, spaced": json.dumps({"instances": pixels}),
        "ints, indented": json.dumps({"instances": pixels}, indent=2),
        "floats and exponents": json.dumps({"instances": (x / 7).tolist()}).replace("0.0,", "0e0,", 3),
        "negative and mixed": json.dumps({"instances": (x - 100).tolist()}).replace("1.0,", "1,", 5),
        "signature first": json.dumps({"signature_name": "serving_default", "instances": pixels}),
        "signature after": json.dumps({"instances": pixels, "signature_name": "serving_default"}),
        "columns": json.dumps({"inputs": pixels}),
        "unknown signature": json.dumps({"signature_name": "nope", "instances": pixels}),
        "signature not a string": json.dumps({"signature_name": 3, "instances": pixels}),
        "two-input signature": json.dumps({"signature_name": "two_inputs", "inputs": pixels}),
        "ragged": one.replace("]]]]", "]], [[0]]]]"),
        "wrong shape": json.dumps({"instances": np.zeros((2, 8, 7, 1)).tolist()}),
        "one number short": one.replace(", 0]", "]", 1) if ", 0]" in one else one.replace("]", "", 1),
        "empty place": one.replace(", ", ", , ", 1).replace(", , ", ",, ", 1),
        "trailing comma": one.replace("]]]]", ",]]]]"),
        "leading zero": one.replace("[[[[", "[[[[01, ", 1),
        "space between numbers": one.replace(", ", " ", 1),
        "true among numbers": one.replace("[[[[", "[[[[true, ", 1),
        "NaN literal": one.replace("[[[[", "[[[[NaN, ", 1),
        "string among numbers": one.replace("[[[[", '[[[["7", ', 1),
        "integer beyond 64 bits": one.replace("[[[[", "[[[[123456789012345678901234567890, ", 1),
        "both keys": json.dumps({"instances": pixels, "inputs": pixels}),
        "key twice": '{"instances": 5, ' + one[1:],
        "key twice, array first": one[:-1] + ', "instances": 5}',
        "key nested": json.dumps({"x": {"instances": pixels}}),
        "key in a string": json.dumps({"signature_name": '"instances": [1]', "instances": pixels}),
        "broken elsewhere": one[:-1] + ', "extra": }',
        "not an object": json.dumps(pixels),
        "named rows": json.dumps({"instances": [{"images": p} for p in pixels]}),
        "empty": "",
    }


@pytest.mark.parametrize("case", list(_rest_bodies()))
def test_rest_numeric_text_path_answers_as_the_general_path(module_server, monkeypatch, case):
    from kerazoo.serving import rest

    api, body = module_server.rest.api, _rest_bodies()[case].encode()
    fast = api.handle("POST", "/v1/models/tiny/versions/1:predict", body)
    try:
        taken = rest.numeric_predict_inputs(body, module_server.service.servable("tiny", 1))
    except ServingError:  # an unknown signature: the same error either way
        taken = None
    monkeypatch.setattr(rest, "numeric_predict_inputs", lambda *args, **kwargs: None)
    general = api.handle("POST", "/v1/models/tiny/versions/1:predict", body)
    assert fast == general
    readable = case in ("ints, compact", "ints, spaced", "ints, indented", "floats and exponents",
                        "negative and mixed", "signature first", "signature after", "columns")
    assert (taken is not None) == readable, case  # which bodies the text path reads is part of the contract
    if case.startswith("ints"):
        assert fast[0] == 200


def test_rest_numeric_text_path_reads_the_numbers_exactly():
    from kerazoo.serving.tensors import numeric_text_array

    x = np.random.default_rng(3).normal(0, 1e3, (2, 3, 4))
    text = str(x.tolist()).encode()  # Python's repr: shortest round-trip floats, ", " separators
    np.testing.assert_array_equal(numeric_text_array(text, (2, 3, 4)), x)
    assert numeric_text_array(text, (3, 2, 4)) is None  # the brackets say 2x3x4
    assert numeric_text_array(b"[[1, 2], [3, 4]]", (2, 2)).dtype == np.int64
    assert numeric_text_array(b"[[1, 2.5], [3, 4]]", (2, 2)).dtype == np.float64
    assert numeric_text_array(b"[[1, 2], [3, -]]", (2, 2)) is None
