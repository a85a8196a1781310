"""The sources' input preprocessing as a Keras layer (put first in pretrained models) and as NumPy functions.

A pretrained kerazoo model takes raw RGB pixels 0-255 like every kerazoo model; the ``Preprocess`` layer named
``preprocess`` right after its input does what the weights were trained with. ``preprocess_input`` does the same on
NumPy arrays (for users who feed preprocessed tensors to a model built without it), exactly as
``keras.applications.imagenet_utils.preprocess_input`` does for the modes keras has.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["Preprocess", "preprocess_input", "IMAGENET_MEAN", "IMAGENET_STD", "CAFFE_MEAN_BGR", "MODES"]

MODES = ("caffe", "torch", "tf", "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, pixels in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # keras' caffe mode: BGR order, pixels 0-255


def _check(mode: str, mean, std) -> tuple[tuple, tuple]:
    if mode not in MODES:
        raise ValueError(f"Invalid preprocessing mode: expected one of {', '.join(MODES)}. Received: mode={mode!r}")
    mean = tuple(float(m) for m in mean) or (CAFFE_MEAN_BGR if mode == "caffe" else IMAGENET_MEAN)
    std = tuple(float(s) for s in std) or IMAGENET_STD
    return mean, std


@keras.saving.register_keras_serializable(package="kerazoo")
class Preprocess(keras.layers.Layer):
    """Raw RGB pixels 0-255 → the network's input, per ``mode`` (see ``tags.Preprocessing``). No weights.

    caffe: RGB → BGR, minus ``mean`` (BGR, 0-255). torch: / 255, minus ``mean``, divided by ``std`` (RGB, 0-1).
    tf: / 127.5 - 1. none: unchanged.
    """

    def __init__(self, mode: str, mean=(), std=(), **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.mean, self.std = _check(mode, mean, std)

    def call(self, x):
        x = keras.ops.cast(x, self.compute_dtype)
        if self.mode == "caffe":
            return keras.ops.flip(x, axis=-1) - keras.ops.convert_to_tensor(self.mean, self.compute_dtype)
        if self.mode == "torch":
            mean = keras.ops.convert_to_tensor(self.mean, self.compute_dtype)
            std = keras.ops.convert_to_tensor(self.std, self.compute_dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "tf":
            return x / 127.5 - 1.0
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "mean": list(self.mean), "std": list(self.std)}


def preprocess_input(x, mode: str, mean=(), std=()) -> np.ndarray:
    """The ``Preprocess`` layer's computation on a NumPy array of RGB pixels 0-255 (float32 result)."""
    mean, std = _check(mode, mean, std)
    x = np.asarray(x, dtype=np.float32)
    if mode == "caffe":
        return x[..., ::-1] - np.asarray(mean, np.float32)
    if mode == "torch":
        return (x / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    return x


def preprocess_input_for(mode: str, weights: str):
    """A family module's ``preprocess_input(x)``: ``mode``'s preprocessing, which ``weights`` were trained with."""
    _check(mode, (), ())

    def family_preprocess_input(x) -> np.ndarray:
        return preprocess_input(x, mode)

    family_preprocess_input.__name__ = family_preprocess_input.__qualname__ = "preprocess_input"
    family_preprocess_input.__doc__ = (
        f"RGB pixels 0-255 → the input {weights} were trained with ({mode!r} mode), exactly what the ``preprocess`` "
        "layer of the pretrained model does; for feeding preprocessed arrays to a model built without weights."
    )
    return family_preprocess_input
