import json
import os

import numpy as np
import pytest

from kerazoo.export import compare_formats, export_run, load_predictor, new_version, parity, versions


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    repo = str(tmp_path_factory.mktemp("repo"))
    return repo, export_run(trained_run, repo, "lenet", parity_examples=16, representative_examples=32)


def test_repository_layout_and_report(exported):
    repo, version_dir = exported
    assert version_dir == os.path.join(repo, "lenet", "1") and versions(repo, "lenet") == [1]
    for name in ("saved_model.pb", "model.tflite", "model_int8.tflite", "model.onnx", "export_report.json", "kerazoo.json"):
        assert os.path.exists(os.path.join(version_dir, name)), name
    assert not [d for d in os.listdir(os.path.join(repo, "lenet")) if d.startswith(".tmp")]
    with open(os.path.join(version_dir, "export_report.json")) as f:
        report = json.load(f)["formats"]
    for fmt in ("saved_model", "tflite", "onnx"):
        assert report[fmt]["relative_logit_diff"] <= 1e-4 and report[fmt]["passed"]
    assert report["tflite_int8"]["top1_agreement"] >= 0.98
    assert report["tflite_int8"]["bytes"] < 0.4 * report["tflite"]["bytes"]
    for fmt in ("saved_model", "tflite", "tflite_int8", "onnx"):  # speed beside the parity figures
        assert set(report[fmt]["us_per_image"]) == {"batch_1", "batch_32"}
        assert all(us > 0 for us in report[fmt]["us_per_image"].values())


def test_signature_contract(exported):
    import tensorflow as tf

    _, version_dir = exported
    signature = tf.saved_model.load(version_dir).signatures["serving_default"]
    spec = signature.structured_input_signature[1]["images"]
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, 28, 28, 1]
    outputs = signature(images=tf.fill([3, 28, 28, 1], 128.0))
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)


def test_every_format_agrees_with_keras(exported, trained_run):
    _, version_dir = exported
    x = np.random.default_rng(0).uniform(0, 255, (5, 28, 28, 1)).astype("float32")
    reference = load_predictor(trained_run)(x)
    for fmt, atol in (("saved_model", 1e-4), ("tflite", 1e-4), ("onnx", 1e-4)):
        np.testing.assert_allclose(load_predictor(version_dir, fmt)(x), reference, atol=atol, err_msg=fmt)
    int8 = load_predictor(version_dir, "tflite_int8")
    assert int8.fmt == "tflite_int8" and int8(x).shape == (5, 10)
    with pytest.raises(ValueError, match="takes images of shape \\(28, 28, 1\\); got \\(32, 32, 1\\)"):
        load_predictor(version_dir, "onnx")(np.zeros((1, 32, 32, 1), "float32"))


def test_compare_formats_table(exported):
    _, version_dir = exported
    rows = compare_formats(version_dir)
    assert [r["format"] for r in rows] == ["keras", "saved_model", "tflite", "tflite_int8", "onnx"]
    keras_acc = rows[0]["accuracy"]
    for row in rows:
        assert row["examples"] == 48 and row["bytes"] > 0
        if row["format"] != "tflite_int8":
            assert row["accuracy"] == keras_acc and row["max_abs_logit_diff"] < 1e-3


def test_next_export_removes_a_killed_exports_leftover(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "m"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = folder / f".tmp-{int(dead.stdout)}-0123456789ab-1"  # its writer process has exited
    running = folder / f".tmp-{os.getpid()}-0123456789ab-2"  # this process: an export still writing
    other = folder / ".tmp-notes"  # no writer PID: not ours to judge
    for path in (killed, running, other):
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"partial")
    with new_version(str(tmp_path), "m") as (tmp, number):
        open(os.path.join(tmp, "saved_model.pb"), "w").close()
    assert number == 1 and not killed.exists() and running.exists() and other.exists()
    assert versions(str(tmp_path), "m") == [1]


def test_failed_export_publishes_nothing(tmp_path):
    repo = str(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        with new_version(repo, "m") as (tmp, number):
            open(os.path.join(tmp, "saved_model.pb"), "w").close()
            raise RuntimeError("boom")
    assert versions(repo, "m") == [] and os.listdir(os.path.join(repo, "m")) == []
    with new_version(repo, "m") as (tmp, number):
        assert number == 1
    with pytest.raises(FileExistsError, match="versions are immutable"):
        with new_version(repo, "m", 1):
            pass
    with pytest.raises(ValueError, match="Invalid model name"):
        with new_version(repo, "../evil"):
            pass


def test_parity_limits():
    ref = np.array([[0.0, 10.0], [5.0, 1.0]], "float32")
    assert parity(ref, ref + 5e-4, "tflite")["passed"]
    failed = parity(ref, ref + 2e-3, "onnx")
    assert not failed["passed"] and failed["relative_logit_diff"] == pytest.approx(2e-4, rel=1e-3)
    assert not parity(ref, ref[:, ::-1], "tflite_int8")["passed"]


def test_export_refuses_a_model_over_its_parity_limit(trained_run, tmp_path, monkeypatch):
    from kerazoo.export import exporter, formats

    monkeypatch.setattr(formats, "FLOAT_TOLERANCE", 0.0)  # any float difference now fails
    with pytest.raises(ValueError, match="failed its parity check, nothing was published: tflite"):
        exporter.export_run(trained_run, str(tmp_path), "m", formats="tflite", parity_examples=8)
    assert versions(str(tmp_path), "m") == []


def test_corrupt_artifacts_are_clear_errors(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(ValueError, match="not a loadable SavedModel"):
        load_predictor(str(tmp_path))
    with pytest.raises(ValueError, match="neither a SavedModel"):
        load_predictor(str(tmp_path / ".."))
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="Cannot tell the format"):
        load_predictor(str(tmp_path / "x.bin"))


def test_corrupt_checkpoint_fails_on_its_hash(trained_run, tmp_path):
    import shutil

    from kerazoo.training import load_run_model

    copy = str(tmp_path / "run")
    shutil.copytree(trained_run, copy)
    with open(os.path.join(copy, "checkpoints", "best.keras"), "ab") as f:
        f.write(b"garbage")
    with pytest.raises(ValueError, match="does not match its hash file.*expected sha256 [0-9a-f]{64}, file has [0-9a-f]{64}"):
        load_run_model(copy)


def test_export_writes_a_hash_file_beside_each_artifact(exported):
    from kerazoo.applications.common import sha256_of

    _, version_dir = exported
    for name in ("model.tflite", "model_int8.tflite", "model.onnx"):
        with open(os.path.join(version_dir, f"{name}.sha256")) as f:
            assert f.read().split() == [sha256_of(os.path.join(version_dir, name)), name]


def test_export_writes_tf_serving_warmup_requests_and_a_bytes_signature(exported):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    _, version_dir = exported
    records = list(tf.data.TFRecordDataset(os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests")))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert [entry.predict_log.request.model_spec.signature_name for entry in logs] == ["serving_default",
                                                                                      "serving_bytes"]
    images = tf.make_ndarray(logs[0].predict_log.request.inputs["images"])
    pngs = tf.make_ndarray(logs[1].predict_log.request.inputs["image_bytes"])
    assert images.shape == (1, 28, 28, 1) and pngs.shape == (1,)
    signatures = tf.saved_model.load(version_dir).signatures
    from_pixels = signatures["serving_default"](images=tf.constant(np.round(images)))["probabilities"].numpy()
    from_png = signatures["serving_bytes"](image_bytes=tf.constant(pngs))["probabilities"].numpy()
    np.testing.assert_allclose(from_png, from_pixels, atol=1e-6)
    with open(os.path.join(version_dir, "kerazoo.json")) as f:
        card = json.load(f)["card"]
    assert card["model"] == "lenet5" and card["params"] > 0 and card["input_shape"] == [28, 28, 1]
    assert "test_accuracy" in card["measured"]


def test_classifier_answers_tf_serving_classify_over_rest_and_grpc(exported):
    import urllib.request

    import grpc
    import tensorflow as tf
    from tensorflow.core.example import example_pb2, feature_pb2
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc

    from kerazoo.serving import serve

    repo, version_dir = exported
    proto = saved_model_pb2.SavedModel.FromString(open(os.path.join(version_dir, "saved_model.pb"), "rb").read())
    assert proto.meta_graphs[0].signature_def["classify"].method_name == "tensorflow/serving/classify"
    with open(os.path.join(version_dir, "kerazoo.json")) as f:
        card = json.load(f)
    assert "classify" in card["signatures"]
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    expected = tf.saved_model.load(version_dir).signatures["serving_default"](images=tf.constant(pixels))
    expected = expected["probabilities"].numpy()
    labels = [str(name) for name in card["class_names"]]

    server = serve(repo, rest_port=0, grpc_port=0, poll_interval=0)
    try:
        body = json.dumps({"signature_name": "classify",  # serving_default stays the predict signature
                           "examples": [{"images": image.ravel().tolist()} for image in pixels]}).encode()
        request = urllib.request.Request(f"{server.rest_url}/v1/models/lenet:classify", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            rows = json.load(response)["results"]
        assert [[label for label, _ in row] for row in rows] == [labels] * 2
        np.testing.assert_allclose([[score for _, score in row] for row in rows], expected, rtol=1e-4, atol=1e-6)

        grpc_request = classification_pb2.ClassificationRequest()
        grpc_request.model_spec.name, grpc_request.model_spec.signature_name = "lenet", "classify"
        for image in pixels:
            grpc_request.input.example_list.examples.append(example_pb2.Example(features=feature_pb2.Features(
                feature={"images": feature_pb2.Feature(float_list=feature_pb2.FloatList(value=image.ravel()))})))
        with grpc.insecure_channel(server.grpc_address) as channel:
            answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Classify(grpc_request, timeout=60)
        rows = answer.result.classifications
        assert [[c.label for c in row.classes] for row in rows] == [labels] * 2
        np.testing.assert_allclose([[c.score for c in row.classes] for row in rows], expected, rtol=1e-4, atol=1e-6)
    finally:
        server.stop()
