"""TF Serving's gRPC API, called with the tensorflow-serving-api package's own stubs."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import CLASSES, images
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import (
    classification_pb2, get_model_metadata_pb2, get_model_status_pb2, inference_pb2, model_service_pb2_grpc,
    predict_pb2, prediction_service_pb2_grpc, regression_pb2,
)


@pytest.fixture(scope="module")
def channel(module_server):
    with grpc.insecure_channel(module_server.grpc_address) as channel:
        yield channel


@pytest.fixture(scope="module")
def predictions(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(name="tiny", x=None, version=None, label=None, signature="", **tensors):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    if x is not None:
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(x))
    for key, value in tensors.items():
        request.inputs[key].CopyFrom(value)
    return request


def test_predict(predictions, reference):
    x = images(3)
    response = predictions.Predict(predict_request(x=x), timeout=30)
    assert response.model_spec.name == "tiny" and response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["logits"]), reference(x, 2), rtol=1e-5, atol=1e-5)
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (3, 3)


def test_predict_version_label_and_output_filter(predictions, reference):
    x = images(1)
    response = predictions.Predict(predict_request(x=x, version=1), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["logits"]), reference(x, 1), rtol=1e-5, atol=1e-5)
    request = predict_request(x=x, label="canary")
    request.output_filter.append("logits")
    response = predictions.Predict(request, timeout=30)
    assert response.model_spec.version.value == 2 and list(response.outputs) == ["logits"]


def test_predict_string_and_multi_input_signatures(predictions, reference):
    x = np.round(images(2))
    pngs = [tf.io.encode_png(i.astype(np.uint8)).numpy() for i in x]
    response = predictions.Predict(
        predict_request(signature="serving_bytes", image_bytes=tf.make_tensor_proto(pngs)), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["logits"]), reference(x, 2), rtol=1e-4, atol=1e-4)
    response = predictions.Predict(predict_request(
        x=x, signature="two_inputs", scale=tf.make_tensor_proto(np.array([3.0, 1.0], np.float32))), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["scaled_logits"]),
                               reference(x, 2) * [[3.0], [1.0]], rtol=1e-4, atol=1e-4)


def _examples(x, context=False):
    pixels = [example_pb2.Example(features=feature_pb2.Features(feature={
        "pixels": feature_pb2.Feature(float_list=feature_pb2.FloatList(value=i.ravel().tolist()))})) for i in x]
    request_input = classification_pb2.ClassificationRequest().input
    if context:
        request_input.example_list_with_context.context.CopyFrom(pixels[0])
        request_input.example_list_with_context.examples.add()
        request_input.example_list_with_context.examples.add().CopyFrom(pixels[1])
    else:
        request_input.example_list.examples.extend(pixels)
    return request_input


def test_classify_and_regress(predictions, reference):
    x = images(2)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "tiny", "classify"
    request.input.CopyFrom(_examples(x))
    response = predictions.Classify(request, timeout=30)
    assert response.model_spec.version.value == 2
    rows = response.result.classifications
    assert [[c.label for c in row.classes] for row in rows] == [list(CLASSES)] * 2
    logits = reference(x, 2)
    np.testing.assert_allclose([[c.score for c in row.classes] for row in rows],
                               np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-4)
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "tiny", "regress"
    request.model_spec.version.value = 1
    request.input.CopyFrom(_examples(x, context=True))
    response = predictions.Regress(request, timeout=30)
    np.testing.assert_allclose([r.value for r in response.result.regressions], reference(x, 1).sum(1),
                               rtol=1e-4, atol=1e-4)


def test_get_model_metadata(predictions):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "tiny"
    request.metadata_field.append("signature_def")
    response = predictions.GetModelMetadata(request, timeout=30)
    assert response.model_spec.version.value == 2
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    default = signatures.signature_def["serving_default"]
    assert default.inputs["images"].dtype == tf.float32.as_datatype_enum
    assert set(default.outputs) == {"probabilities", "logits"}
    with pytest.raises(grpc.RpcError) as error:
        predictions.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(model_spec=request.model_spec))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_get_model_status(models):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "tiny"
    response = models.GetModelStatus(request, timeout=30)
    states = {s.version: s.state for s in response.model_version_status}
    assert states == {1: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
                      2: get_model_status_pb2.ModelVersionStatus.AVAILABLE}
    request.model_spec.version_label = "stable"
    assert [s.version for s in models.GetModelStatus(request, timeout=30).model_version_status] == [1]
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as error:
        models.GetModelStatus(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def _double(x):
    return tf.make_tensor_proto(x.astype(np.float64))


@pytest.mark.parametrize("make,code,message", [
    (lambda: predict_request(name="nope", x=images(1)), "NOT_FOUND", "Latest(nope)"),
    (lambda: predict_request(x=images(1), version=9), "NOT_FOUND", "Specific(tiny, 9)"),
    (lambda: predict_request(x=images(1), label="nope"), "INVALID_ARGUMENT", "Unrecognized servable version label"),
    (lambda: predict_request(images=_double(images(1))), "INVALID_ARGUMENT", "expected dtype DT_FLOAT, got DT_DOUBLE"),
    (lambda: predict_request(x=np.zeros((1, 4, 4, 1), np.float32)), "INVALID_ARGUMENT", "expected shape"),
    (lambda: predict_request(image=tf.make_tensor_proto(images(1))), "INVALID_ARGUMENT", "alias not found"),
    (lambda: predict_request(), "INVALID_ARGUMENT", "Missing input tensor"),
    (lambda: predict_request(x=images(1), signature="nope"), "FAILED_PRECONDITION", '"nope" not found'),
    (lambda: predict_request(x=images(1), signature="two_inputs"), "INVALID_ARGUMENT", "Missing input"),
])
def test_predict_errors(predictions, make, code, message):
    with pytest.raises(grpc.RpcError) as error:
        predictions.Predict(make(), timeout=30)
    assert error.value.code() == getattr(grpc.StatusCode, code)
    assert message in error.value.details()


def test_output_filter_and_malformed_tensor_errors(predictions):
    request = predict_request(x=images(1))
    request.output_filter.append("nope")
    with pytest.raises(grpc.RpcError) as error:
        predictions.Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = predict_request(x=images(1))
    request.inputs["images"].tensor_content = b"\x00" * 7  # not 256 bytes
    with pytest.raises(grpc.RpcError) as error:
        predictions.Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_oversize_message_and_unimplemented(predictions):
    big = predict_request(x=np.zeros((1200, 8, 8, 1), np.float32))  # 300 KB > this server's 256 KiB limit
    with pytest.raises(grpc.RpcError) as error:
        predictions.Predict(big, timeout=30)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as error:
        predictions.MultiInference(inference_pb2.MultiInferenceRequest(), timeout=30)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert predictions.Predict(predict_request(x=images(1)), timeout=30).outputs  # still serving
