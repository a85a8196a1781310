"""Serving beyond TF Serving on a real export: files in (``serving_bytes``), the model list, model cards in the
metadata, warm-up replay before AVAILABLE, and batching histograms in the metrics."""

from __future__ import annotations

import base64
import re
import shutil
import threading

import numpy as np
import pytest
from serving_helpers import http


@pytest.fixture(scope="module")
def served(trained_run, tmp_path_factory):
    """``kerazoo export`` of the shared LeNet run as models "fashion" and "copy", two versions each, all served
    (batching on): (server, repo)."""
    from kerazoo.export import export_run
    from kerazoo.serving import BatchingOptions, VersionPolicy, serve

    repo = tmp_path_factory.mktemp("bytes_repo")
    first = export_run(trained_run, str(repo), "fashion", formats="saved_model", parity_examples=8)
    shutil.copytree(first, repo / "fashion" / "2")
    shutil.copytree(repo / "fashion", repo / "copy")
    server = serve(str(repo), rest_port=0, grpc_port=0, poll_interval=0, version_policy=VersionPolicy("all"),
                   batching=BatchingOptions(max_batch_size=8, batch_timeout_micros=20_000, num_batch_threads=1))
    yield server, repo
    server.stop()


@pytest.fixture(scope="module")
def jpeg_and_reference(trained_run):
    """A JPEG at the model's size and the in-process prediction (the run's Keras model) on the same file."""
    import tensorflow as tf

    from kerazoo.training.run import load_run_model

    pixels = np.random.default_rng(3).integers(0, 256, (28, 28, 1)).astype(np.uint8)
    pixels[10:14, 4:24] = 250
    jpeg = tf.io.encode_jpeg(pixels, quality=90).numpy()
    decoded = tf.io.decode_jpeg(jpeg, channels=1).numpy().astype(np.float32)
    logits = load_run_model(trained_run)(decoded[None], training=False)
    return jpeg, tf.nn.softmax(logits).numpy()[0]


def test_rest_b64_jpeg_gives_the_in_process_prediction(served, jpeg_and_reference):
    server, _ = served
    jpeg, expected = jpeg_and_reference
    body = {"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(jpeg).decode()}]}
    status, answer = http(server.rest_url, "POST", "/v1/models/fashion:predict", body)
    assert status == 200, answer
    probabilities = np.array(answer["predictions"][0]["probabilities"])
    assert np.argmax(probabilities) == np.argmax(expected)
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_grpc_dt_string_reaches_the_bytes_signature(served, jpeg_and_reference):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    server, _ = served
    jpeg, expected = jpeg_and_reference
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "copy", "serving_bytes"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([jpeg, jpeg], dtype=tf.string))
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    np.testing.assert_allclose(probabilities, [expected, expected], atol=1e-4)


def test_bytes_that_are_not_an_image_are_a_client_error(served):
    server, _ = served
    body = {"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(b"not an image").decode()}]}
    status, answer = http(server.rest_url, "POST", "/v1/models/fashion:predict", body)
    assert status == 400 and "error" in answer


def test_list_models_shows_every_model_with_versions_and_states(served):
    server, _ = served
    status, answer = http(server.rest_url, "GET", "/v1/models")
    assert status == 200
    listed = {m["name"]: [(v["version"], v["state"]) for v in m["versions"]] for m in answer["models"]}
    assert listed == {"copy": [("2", "AVAILABLE"), ("1", "AVAILABLE")],
                      "fashion": [("2", "AVAILABLE"), ("1", "AVAILABLE")]}


def test_metadata_carries_the_model_card(served):
    import grpc
    from google.protobuf import json_format, struct_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    server, _ = served
    status, answer = http(server.rest_url, "GET", "/v1/models/fashion/versions/1/metadata")
    assert status == 200
    card = answer["metadata"]["model_card"]
    assert card["model"] == "lenet5" and card["signatures"] == ["serving_default", "serving_bytes", "classify"]
    assert card["card"]["params"] > 0 and card["card"]["paper"].startswith("LeCun")
    assert set(answer["metadata"]["signature_def"]["signature_def"]) >= {"serving_default", "serving_bytes", "classify"}
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["model_card"])
    request.model_spec.name = "fashion"
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    over_grpc = struct_pb2.Struct()
    response.metadata["model_card"].Unpack(over_grpc)
    assert json_format.MessageToDict(over_grpc)["card"]["params"] == card["card"]["params"]


def _metric(text: str, pattern: str) -> float:
    match = re.search(pattern + r" ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, pattern
    return float(match.group(1))


def test_warmup_requests_are_replayed_before_available_and_batching_is_in_the_metrics(served):
    server, _ = served
    # Each of the 4 versions replayed its 2 warm-up requests (serving_default and serving_bytes) while loading.
    assert [server.repository.get(name, v).warmup_requests for name in ("fashion", "copy") for v in (1, 2)] == [2] * 4
    images = np.random.default_rng(0).uniform(0, 255, (1, 28, 28, 1)).round().tolist()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(
        http(server.rest_url, "POST", "/v1/models/fashion:predict", {"instances": images})[0])) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 6
    status, text = http(server.rest_url, "GET", "/monitoring/prometheus/metrics")
    assert _metric(text, r'kerazoo_serving_warmup_requests_total\{model_name="fashion"\}') == 4
    assert _metric(text, r'kerazoo_serving_warmup_requests_total\{model_name="copy"\}') == 4
    assert _metric(text, r'kerazoo_serving_batch_queue_delay_count\{model_name="fashion"\}') >= 6
    assert _metric(text, r'kerazoo_serving_batch_size_count\{model_name="fashion"\}') >= 1
    assert _metric(text, r'kerazoo_serving_batch_size_sum\{model_name="fashion"\}') >= 6
