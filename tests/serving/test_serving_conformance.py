"""TF Serving's own tests, replayed against kerazoo serve: the calls and expected bodies of
``tensorflow_model_server_test.py`` (REST and gRPC) and ``http_rest_api_handler_test.cc``, on a TF1 SavedModel
built like their ``half_plus_two`` testdata (``half_plus_two.py``; version folder 00000123)."""

import os

import grpc
import pytest
from half_plus_two import VERSION, build_half_plus_two
from serving_helpers import http

TIMEOUT = 10


@pytest.fixture(scope="module")
def tf_server(tmp_path_factory):
    from kerazoo.serving import serve

    repo = tmp_path_factory.mktemp("tfs_repo")
    build_half_plus_two(str(repo / "default"))
    build_half_plus_two(str(repo / "half_plus_three"), offset=3.0)
    config = repo / "models.config"
    config.write_text("model_config_list { config { name: 'default' base_path: 'default' model_platform: "
                      "'tensorflow' version_labels { key: 'Version_Label' value: 123 } } }")
    server = serve(str(repo), rest_port=0, grpc_port=0, model_config_file=str(config), poll_interval=0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stubs(tf_server):
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(tf_server.grpc_address)
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


# -- tensorflow_model_server_test.py, REST -----------------------------------------------------------------------


@pytest.mark.parametrize("path,body,expected", [
    (":classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}, {"results": [[["", 3.0]]]}),
    (":regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}, {"results": [3.0]}),
    (":predict", {"instances": [2.0, 3.0, 4.0]}, {"predictions": [3.0, 3.5, 4.0]}),
    (":predict", {"inputs": [2.0, 3.0, 4.0]}, {"outputs": [3.0, 3.5, 4.0]}),
])
def test_model_server_rest_calls(tf_server, path, body, expected):
    assert http(tf_server.rest_url, "POST", f"/v1/models/default{path}", body) == (200, expected)


def test_model_server_rest_status(tf_server):
    assert http(tf_server.rest_url, "GET", "/v1/models/default") == (200, {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})


def test_model_server_rest_metadata(tf_server):
    from google.protobuf import json_format

    from kerazoo.serving.repository import read_signature_defs

    status, body = http(tf_server.rest_url, "GET", "/v1/models/default/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "default", "signature_name": "", "version": "123"}
    assert list(body["metadata"]) == ["signature_def"]  # no model_card: the version has no kerazoo.json
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert sorted(signatures) == ["classify_x_to_y", "regress_x2_to_y3", "regress_x_to_y", "regress_x_to_y2",
                                  "serving_default"]
    assert signatures["serving_default"] == {
        "inputs": {"x": {"dtype": "DT_FLOAT", "name": "x:0",
                         "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                                          "unknown_rank": False}}},
        "outputs": {"y": {"dtype": "DT_FLOAT", "name": "y:0",
                          "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                                           "unknown_rank": False}}},
        "method_name": "tensorflow/serving/predict", "defaults": {}}
    assert signatures["classify_x_to_y"]["method_name"] == "tensorflow/serving/classify"
    assert signatures["classify_x_to_y"]["outputs"]["scores"]["name"] == "y:0"
    # Every SignatureDef, field for field, as the SavedModel holds it.
    path = os.path.join(tf_server.repository.configs["default"].base_path, "00000123")
    for key, proto in read_signature_defs(path).items():
        expected = json_format.MessageToDict(proto, always_print_fields_with_no_presence=True,
                                             preserving_proto_field_name=True)
        assert signatures[key] == expected


# -- http_rest_api_handler_test.cc ------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path,message", [
    ("GET", "/v1/foo", "Malformed request"),
    ("POST", "/v1/foo", "Malformed request"),
    ("GET", "/v1/models/debug/model_name", "Malformed request"),
    ("POST", "/v1/models", "Malformed request"),
    ("GET", "/v1/models/foo:predict", "Malformed request"),
    ("GET", "/v1/models/foo/version/50:predict", "Malformed request"),
    ("POST", "/v1/models/foo/version/50:regress", "Malformed request"),
    ("POST", "/v1/models/foo/versions/HELLO:regress", "Malformed request"),
    ("POST", f"/v1/models/foo/versions/{2**64 - 1}:regress", "Failed to convert version"),
    ("POST", "/v1/models/foo/metadata", "Malformed request"),
    ("POST", "/v1/models/foo/label/some_label:regress", "Malformed request"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress", "Malformed request"),
    ("POST", "/v1/models/foo/versions/some_label:regress", "Malformed request"),
])
def test_handler_unsupported_calls(tf_server, method, path, message):
    status, body = http(tf_server.rest_url, method, path)
    assert status == 400 and message in body["error"]


@pytest.mark.parametrize("path", ["/v1/models/foo:predict", "/v1/models/foo/versions/50:predict",
                                  "/v1/models/default/versions/99:predict"])
def test_handler_missing_servables_are_not_found(tf_server, path):
    status, body = http(tf_server.rest_url, "POST", path, {"instances": [1]})
    assert status == 404 and "Servable not found" in body["error"]


@pytest.mark.parametrize("path,raw,message", [
    ("/v1/models/default:predict", b"", "JSON Parse error: The document is empty"),
    ("/v1/models/default:predict", b"instances = [1, 2]", "JSON Parse error: Invalid value"),
    ("/v1/models/default:predict", b'{ "instances": ["x", "y"] }', "not of expected type: float"),
    ("/v1/models/default/labels/Version_Nonexistent:predict", b'{ "instances": ["x", "y"] }',
     "Unrecognized servable version label"),
    ("/v1/models/default:predict", b'{ "signature_name": 100 }', "'signature_name' key must be a string value."),
])
def test_handler_predict_request_errors(tf_server, path, raw, message):
    status, body = http(tf_server.rest_url, "POST", path, raw=raw)
    assert status == 400 and message in body["error"]


@pytest.mark.parametrize("path,body,expected", [
    ("/v1/models/default:predict", {"instances": [[1.0, 2.0], [3.0, 4.0]]}, {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    ("/v1/models/default/versions/123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    ("/v1/models/default/versions/00000123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    ("/v1/models/default/labels/Version_Label:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    ("/v1/models/default/versions/123:predict", {"signature_name": "serving_default", "instances": [3.0, 4.0]},
     {"predictions": [3.5, 4.0]}),
    ("/v1/models/default/versions/123:predict", {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
     {"outputs": [3.5, 4.0]}),
    ("/v1/models/default:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
     {"results": [42]}),
    ("/v1/models/default/versions/123:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
     {"results": [42]}),
    ("/v1/models/default/labels/Version_Label:regress",
     {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, {"results": [42]}),
    ("/v1/models/default:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]},
     {"results": [[["", 12]]]}),
    ("/v1/models/default/labels/Version_Label:classify",
     {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]}, {"results": [[["", 7]]]}),
])
def test_handler_inference(tf_server, path, body, expected):
    assert http(tf_server.rest_url, "POST", path, body) == (200, expected)


def test_handler_status_by_version_and_label(tf_server):
    expected = {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    for path in ("/v1/models/default", "/v1/models/default/versions/123", "/v1/models/default/labels/Version_Label"):
        assert http(tf_server.rest_url, "GET", path) == (200, expected)


# -- tensorflow_model_server_test.py, gRPC -----------------------------------------------------------------------


def _check_spec(spec, signature_name):
    assert (spec.name, spec.signature_name, spec.version.value) == ("default", signature_name, VERSION)


def test_grpc_get_model_status(stubs):
    from tensorflow_serving.apis import get_model_status_pb2

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "default"
    result = stubs[1].GetModelStatus(request, TIMEOUT)
    assert len(result.model_version_status) == 1
    assert result.model_version_status[0].version == VERSION
    assert result.model_version_status[0].status.error_code == 0


def test_grpc_get_model_metadata(stubs):
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "default"
    request.metadata_field.append("signature_def")
    result = stubs[0].GetModelMetadata(request, TIMEOUT)
    assert result.model_spec.name == "default" and result.model_spec.version.value == VERSION
    assert list(result.metadata) == ["signature_def"]


def test_grpc_classify(stubs):
    from tensorflow_serving.apis import classification_pb2

    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples.add().features.feature["x"].float_list.value.extend([2.0])
    result = stubs[0].Classify(request, TIMEOUT)
    assert len(result.result.classifications) == 1 and len(result.result.classifications[0].classes) == 1
    assert result.result.classifications[0].classes[0].score == 3.0
    _check_spec(result.model_spec, "classify_x_to_y")


def test_grpc_regress(stubs):
    from tensorflow_serving.apis import regression_pb2

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "regress_x_to_y"
    request.input.example_list.examples.add().features.feature["x"].float_list.value.extend([2.0])
    result = stubs[0].Regress(request, TIMEOUT)
    assert len(result.result.regressions) == 1 and result.result.regressions[0].value == 3.0
    _check_spec(result.model_spec, "regress_x_to_y")


@pytest.mark.parametrize("specify_output", [True, False])
def test_grpc_predict(stubs, specify_output):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], shape=[1]))
    if specify_output:
        request.output_filter.append("y")
    result = stubs[0].Predict(request, TIMEOUT)
    assert list(result.outputs) == ["y"] and result.outputs["y"].float_val == [3.0]
    _check_spec(result.model_spec, "serving_default")


def test_grpc_model_config_reload(tf_server, stubs):
    """testModelConfigReload: a reload to half_plus_three (inside the repository) serves it at once."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_management_pb2, predict_pb2

    request = model_management_pb2.ReloadConfigRequest()
    for name in ("default", "half_plus_three"):
        entry = request.config.model_config_list.config.add(name=name, base_path=name, model_platform="tensorflow")
        if name == "default":
            entry.version_labels["Version_Label"] = VERSION
    assert stubs[1].HandleReloadConfigRequest(request, TIMEOUT).status.error_code == 0
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "half_plus_three"
    predict.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], shape=[1]))
    assert stubs[0].Predict(predict, TIMEOUT).outputs["y"].float_val == [4.0]
