"""Helpers for the serving tests (a module of its own so that test files need not import conftest)."""

from __future__ import annotations

import os

import numpy as np

CLASSES = ("cat", "dog", "bird")


def export_version(path: str, version: int) -> str:
    import keras
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    keras.utils.set_random_seed(version)
    inputs = keras.Input((8, 8, 1), name="images")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(3, name="logits")
    model = keras.Model(inputs, dense(x))
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel, np.array([float(version), 0.0, 0.0], np.float32)])

    def outputs(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"probabilities": tf.nn.softmax(logits), "logits": logits}

    def from_png(image_bytes):
        images = tf.map_fn(lambda b: tf.cast(tf.image.decode_png(b, channels=1), tf.float32), image_bytes,
                           fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32))
        return outputs(tf.image.resize(images, [8, 8]))

    def from_examples(serialized):
        features = tf.io.parse_example(serialized, {"pixels": tf.io.FixedLenFeature([64], tf.float32)})
        return outputs(tf.reshape(features["pixels"], [-1, 8, 8, 1]))

    def classify(inputs):
        probabilities = from_examples(inputs)["probabilities"]
        classes = tf.tile(tf.constant([list(CLASSES)]), [tf.shape(probabilities)[0], 1])
        return {"classes": classes, "scores": probabilities}

    def regress(inputs):
        return {"outputs": tf.reduce_sum(from_examples(inputs)["logits"], axis=1, keepdims=True)}

    def two_inputs(images, scale):
        result = outputs(images)
        return {"scaled_logits": result["logits"] * scale[:, None], "probabilities": result["probabilities"]}

    archive = keras.export.ExportArchive()
    archive.track(model)
    images = tf.TensorSpec([None, 8, 8, 1], tf.float32, name="images")
    strings = tf.TensorSpec([None], tf.string, name="inputs")
    archive.add_endpoint(name="serving_default", fn=outputs, input_signature=[images])
    archive.add_endpoint(name="serving_bytes", fn=from_png,
                         input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.add_endpoint(name="two_inputs", fn=two_inputs,
                         input_signature=[images, tf.TensorSpec([None], tf.float32, name="scale")])
    archive.add_endpoint(name="classify", fn=classify, input_signature=[strings])
    archive.add_endpoint(name="regress", fn=regress, input_signature=[strings])
    archive.write_out(path, verbose=False)

    proto = saved_model_pb2.SavedModel()
    pb = os.path.join(path, "saved_model.pb")
    with open(pb, "rb") as f:
        proto.ParseFromString(f.read())
    signatures = proto.meta_graphs[0].signature_def
    signatures["classify"].method_name = "tensorflow/serving/classify"
    signatures["regress"].method_name = "tensorflow/serving/regress"
    with open(pb, "wb") as f:
        f.write(proto.SerializeToString())
    keras.backend.clear_session()
    return path


def http(url: str, method: str, path: str, body=None, *, raw: bytes | None = None, headers=None, timeout=30):
    """One request with the standard library: (status, parsed JSON or text)."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(payload)
        return response.status, payload.decode("utf-8", "replace")
    finally:
        connection.close()


def images(count: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, size=(count, 8, 8, 1)).astype(np.float32)
