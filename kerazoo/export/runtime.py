"""Run any exported artifact on raw pixels: a Keras checkpoint or run, a SavedModel, a TFLite file, an ONNX file.

    predictor = load_predictor("models/fashion_r20/1/model_int8.tflite")
    logits = predictor(images)          # float32 raw pixels [N, H, W, C] → logits [N, classes]

Each predictor returns logits (the parity checks compare logits); probabilities are their softmax.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

FORMAT_FILES = {
    "saved_model": "saved_model.pb",
    "tflite": "model.tflite",
    "tflite_int8": "model_int8.tflite",
    "onnx": "model.onnx",
}


@dataclass
class Predictor:
    """A callable from raw pixels to logits, with what it is."""

    fmt: str
    path: str
    fn: Callable[[np.ndarray], np.ndarray]
    input_shape: tuple | None = None

    def __call__(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if self.input_shape is not None and tuple(images.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"{self.fmt} model {self.path} takes images of shape {tuple(self.input_shape)}; "
                f"got {tuple(images.shape[1:])}."
            )
        parts = [self.fn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        return np.concatenate(parts).astype(np.float32)


def _keras_predictor(path: str, model=None) -> Predictor:
    import keras

    if model is None:
        from kerazoo.applications.common import verify_sha256

        verify_sha256(path)
        model = keras.saving.load_model(path, safe_mode=True)
    return Predictor(
        "keras", path, lambda x: keras.ops.convert_to_numpy(model(x, training=False)), tuple(model.input_shape[1:])
    )


def _saved_model_predictor(path: str) -> Predictor:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(path)
    except Exception as error:  # a corrupt or foreign SavedModel: say which and why
        raise ValueError(f"{path} is not a loadable SavedModel: {type(error).__name__}: {error}") from None
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"SavedModel {path} has no serving_default signature (it has {list(loaded.signatures)}).")
    signature = loaded.signatures["serving_default"]
    spec = signature.structured_input_signature[1].get("images")
    if spec is None or "logits" not in signature.structured_outputs:
        raise ValueError(
            f"SavedModel {path} does not follow the kerazoo contract: serving_default must take 'images' and "
            f"return 'logits' (inputs {list(signature.structured_input_signature[1])}, "
            f"outputs {list(signature.structured_outputs)})."
        )
    return Predictor(
        "saved_model", path, lambda x: signature(images=tf.constant(x))["logits"].numpy(), tuple(spec.shape[1:])
    )


def _tflite_predictor(path: str) -> Predictor:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    runner = interpreter.get_signature_runner("serving_default")
    detail = runner.get_input_details()["images"]
    dtype = detail["dtype"]

    def run(x):
        if dtype == np.uint8:  # full-integer model: raw pixels are its quantized input (scale ~1, zero point 0)
            scale, zero = detail["quantization"]
            x = np.clip(np.round(x / scale + zero), 0, 255).astype(np.uint8)
        return runner(images=x.astype(dtype, copy=False))["logits"]

    fmt = "tflite_int8" if dtype == np.uint8 else "tflite"
    return Predictor(fmt, path, run, tuple(int(d) for d in detail["shape_signature"][1:]))


def _onnx_predictor(path: str) -> Predictor:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if "logits" not in names:
        raise ValueError(f"ONNX model {path} has no 'logits' output (outputs: {names}).")
    shape = session.get_inputs()[0].shape[1:]
    return Predictor("onnx", path, lambda x: session.run(["logits"], {"images": x})[0], tuple(shape))


def load_predictor(path: str, fmt: str | None = None) -> Predictor:
    """A predictor for ``path``: a ``.keras`` file, a run directory, a SavedModel directory (a model-repository
    version), a ``.tflite`` file or a ``.onnx`` file. ``fmt`` picks one artifact inside a version directory."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist.")
    if fmt is not None and os.path.isdir(path):
        if fmt not in FORMAT_FILES:
            raise ValueError(f"Invalid format: expected one of {', '.join(FORMAT_FILES)}. Received: format={fmt!r}")
        path = path if fmt == "saved_model" else os.path.join(path, FORMAT_FILES[fmt])
        if not os.path.exists(path if fmt != "saved_model" else os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"No {fmt} artifact in {path}.")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return _saved_model_predictor(path)
        from kerazoo.runs import RunDir

        if RunDir(path).exists():
            model = RunDir(path).load_model()
            return _keras_predictor(path, model)
        raise ValueError(f"{path} is neither a SavedModel (no saved_model.pb) nor a kerazoo run (no config.yaml).")
    if path.endswith(".keras"):
        return _keras_predictor(path)
    if path.endswith((".tflite", ".onnx")):
        from kerazoo.applications.common import verify_sha256

        verify_sha256(path)  # export writes FILE.sha256 beside each artifact; a mismatch names both hashes
        return _tflite_predictor(path) if path.endswith(".tflite") else _onnx_predictor(path)
    raise ValueError(f"Cannot tell the format of {path}: expected a .keras/.tflite/.onnx file or a directory.")
