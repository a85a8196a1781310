"""Ternary and binary weights: trained ternary quantization (Zhu, Han, Mao and Dally, "Trained Ternary Quantization",
2017) and BinaryConnect / XNOR-Net style binary weights (Courbariaux et al., 2015; Rastegari et al., 2016).

The layers keep a float "latent" kernel that the optimizer updates, and compute with its quantized image:

- ``"ternary"``: ``Wp`` where ``w > t * max|w|``, ``-Wn`` where ``w < -t * max|w|``, else 0 (``t = threshold``, 0.05
  in the paper); ``Wp`` and ``Wn`` are learned scalars of the layer. Gradients (the paper's): ``dL/dWp`` is the sum
  of the quantized kernel's gradient over the positive entries, ``dL/dWn`` minus the sum over the negative ones, and
  the latent kernel gets the gradient scaled by ``Wp`` / 1 / ``Wn`` in the three regions (straight-through).
- ``"binary"``: ``alpha * sign(w)`` (``sign(0) = +1``), ``alpha = mean|w|`` of the layer (XNOR-Net's scale, one per
  layer so the kernel takes exactly two values); the latent kernel gets the gradient where ``|w| <= 1`` (the hard-tanh
  straight-through estimator of BinaryConnect) and is clipped to [-1, 1] by its constraint.

For storage, :func:`quantized_codes` gives the integer codes of a layer (ternary -1/0/+1, binary -1/+1) and its
scales; :func:`pack_ternary` / :func:`pack_binary` pack codes at 2 bits / 1 bit per weight (with their inverses), and
:func:`packed_size` compares a model's packed kernels with float32.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

MODES = ("ternary", "binary")
BITS = {"ternary": 2, "binary": 1}
TERNARY_THRESHOLD = 0.05  # the paper's t: entries below 5 % of the largest magnitude become zero


def _check(mode, threshold):
    if mode not in MODES:
        raise ValueError(f"Invalid mode: expected one of {', '.join(MODES)}. Received: mode={mode!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold < 1.0:
        raise ValueError(f"Invalid threshold: expected a fraction in [0, 1). Received: threshold={threshold!r}")


class _QuantizedKernel:
    """What the quantized Dense and Conv2D layers share: the scales and the quantized kernel."""

    def _build_scales(self):
        latent = ops.convert_to_tensor(self.kernel)
        if self.mode == "ternary":
            magnitude = ops.abs(latent)
            above = ops.cast(magnitude > self.threshold * ops.max(magnitude), latent.dtype)
            start = ops.sum(magnitude * above) / ops.maximum(ops.sum(above), 1.0)  # the mean kept magnitude
            self.positive_scale = self.add_weight(name="positive_scale", shape=(), initializer="ones")
            self.negative_scale = self.add_weight(name="negative_scale", shape=(), initializer="ones")
            # Scales of the initial kernel's size (1.0 would amplify a Glorot kernel's output several times);
            # assigned rather than a Constant initializer so a build inside a traced function does not fail (a model
            # built lazily, without keras.Input, keeps 1.0 then: build it with an Input).
            self.positive_scale.assign(start)
            self.negative_scale.assign(start)

    def quantized_kernel(self):
        """The kernel the layer computes with: three values (ternary) or two (binary), straight-through gradients."""
        latent = self.kernel
        if self.mode == "ternary":
            delta = ops.stop_gradient(self.threshold * ops.max(ops.abs(latent)))
            positive = ops.stop_gradient(ops.cast(latent > delta, latent.dtype))
            negative = ops.stop_gradient(ops.cast(latent < -delta, latent.dtype))
            values = self.positive_scale * positive - self.negative_scale * negative
            # Straight-through: forward adds zero; backward gives the latent kernel g * (Wp | 1 | Wn) by region.
            factor = ops.stop_gradient(self.positive_scale * positive + self.negative_scale * negative
                                       + (1.0 - positive - negative))
            return values + (latent * factor - ops.stop_gradient(latent * factor))  # (x - x) = 0 exactly
        alpha = ops.stop_gradient(ops.mean(ops.abs(latent)))
        signs = ops.where(latent >= 0, 1.0, -1.0)
        clipped = ops.clip(latent, -1.0, 1.0)  # its gradient is 1 inside [-1, 1], 0 outside (hard tanh)
        return alpha * signs + (clipped - ops.stop_gradient(clipped))

    def _config_without_clip(self, base: dict) -> dict:
        """The base layer's config plus mode and threshold; a binary layer's clip constraint is implied by its mode."""
        config = {**base, "mode": self.mode, "threshold": self.threshold}
        if self.mode == "binary":
            config.pop("kernel_constraint", None)
        return config


@keras.saving.register_keras_serializable(package="kerazoo")
class QuantizedDense(_QuantizedKernel, keras.layers.Dense):
    """A Dense layer with a ternary or binary kernel (see the module docstring); the bias stays float.

    Args:
        units: output size, as for ``keras.layers.Dense``.
        mode: "ternary" or "binary".
        threshold: ternary only: the fraction of the largest latent magnitude below which a weight is zero.
        **kwargs: the other ``keras.layers.Dense`` arguments.
    """

    def __init__(self, units, mode: str = "ternary", threshold: float = TERNARY_THRESHOLD, **kwargs):
        _check(mode, threshold)
        if mode == "binary":
            kwargs["kernel_constraint"] = _ClipConstraint()
        super().__init__(units, **kwargs)
        self.mode, self.threshold = mode, float(threshold)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_scales()

    def call(self, inputs):
        x = ops.matmul(inputs, ops.cast(self.quantized_kernel(), inputs.dtype))
        if self.bias is not None:
            x = ops.add(x, ops.cast(self.bias, x.dtype))
        return self.activation(x) if self.activation is not None else x

    def get_config(self):
        return self._config_without_clip(super().get_config())


@keras.saving.register_keras_serializable(package="kerazoo")
class QuantizedConv2D(_QuantizedKernel, keras.layers.Conv2D):
    """A Conv2D layer with a ternary or binary kernel (see the module docstring); the bias stays float.

    Args:
        filters, kernel_size: as for ``keras.layers.Conv2D``.
        mode: "ternary" or "binary".
        threshold: ternary only: the fraction of the largest latent magnitude below which a weight is zero.
        **kwargs: the other ``keras.layers.Conv2D`` arguments.
    """

    def __init__(self, filters, kernel_size, mode: str = "ternary", threshold: float = TERNARY_THRESHOLD, **kwargs):
        _check(mode, threshold)
        if mode == "binary":
            kwargs["kernel_constraint"] = _ClipConstraint()
        super().__init__(filters, kernel_size, **kwargs)
        self.mode, self.threshold = mode, float(threshold)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_scales()

    def call(self, inputs):
        outputs = self.convolution_op(inputs, ops.cast(self.quantized_kernel(), inputs.dtype))
        if self.use_bias:
            shape = (1,) * (self.rank + 1) + (self.filters,) if self.data_format == "channels_last" else (
                (1, self.filters) + (1,) * self.rank)
            outputs = ops.add(outputs, ops.reshape(ops.cast(self.bias, outputs.dtype), shape))
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        return self._config_without_clip(super().get_config())


@keras.saving.register_keras_serializable(package="kerazoo")
class _ClipConstraint(keras.constraints.Constraint):
    """BinaryConnect keeps the latent weights in [-1, 1] (beyond, the sign cannot change and the gradient is 0)."""

    def __call__(self, w):
        return ops.clip(w, -1.0, 1.0)


QUANTIZED_LAYERS = (QuantizedDense, QuantizedConv2D)


# ------------------------------------------------------------------------------------------------------------ storage
def quantized_codes(layer) -> tuple[np.ndarray, np.ndarray]:
    """(integer codes of the kernel, float32 scales): ternary codes in {-1, 0, 1} with scales (Wp, Wn), binary codes in
    {-1, 1} with scale (alpha,). ``codes * scale`` (per sign) gives the layer's quantized kernel back."""
    if not isinstance(layer, QUANTIZED_LAYERS):
        raise ValueError(f"Layer {layer.name!r} is a {type(layer).__name__}, not a quantized layer "
                         f"({', '.join(cls.__name__ for cls in QUANTIZED_LAYERS)}).")
    kernel = np.asarray(layer.quantized_kernel())
    if layer.mode == "ternary":
        scales = np.array([float(layer.positive_scale.numpy()), float(layer.negative_scale.numpy())], np.float32)
        return np.sign(kernel).astype(np.int8), scales
    return np.where(kernel >= 0, 1, -1).astype(np.int8), np.array([float(np.max(np.abs(kernel)))], np.float32)


def pack_ternary(codes: np.ndarray) -> bytes:
    """Codes in {-1, 0, 1} at 2 bits each, four to a byte (0 → 00, 1 → 01, -1 → 10), the last byte zero-padded."""
    flat = np.asarray(codes).reshape(-1)
    if not np.isin(flat, (-1, 0, 1)).all():
        bad = flat[~np.isin(flat, (-1, 0, 1))][0]
        raise ValueError(f"Invalid ternary codes: expected values in {{-1, 0, 1}}. Received a value {bad!r}")
    twobit = np.where(flat < 0, 2, flat).astype(np.uint8)
    twobit = np.concatenate([twobit, np.zeros(-len(twobit) % 4, np.uint8)]).reshape(-1, 4)
    return (twobit[:, 0] | twobit[:, 1] << 2 | twobit[:, 2] << 4 | twobit[:, 3] << 6).astype(np.uint8).tobytes()


def unpack_ternary(data: bytes, shape) -> np.ndarray:
    """The inverse of :func:`pack_ternary`: int8 codes of ``shape``."""
    count = int(np.prod(shape))
    packed = np.frombuffer(data, np.uint8)
    if len(packed) != -(-count // 4):
        raise ValueError(f"Invalid data: {len(packed)} bytes do not hold {count} ternary codes of shape {tuple(shape)}")
    twobit = np.stack([(packed >> shift) & 3 for shift in (0, 2, 4, 6)], axis=1).reshape(-1)[:count]
    return np.where(twobit == 2, -1, twobit).astype(np.int8).reshape(shape)


def pack_binary(codes: np.ndarray) -> bytes:
    """Codes in {-1, 1} at 1 bit each (1 → 1, -1 → 0), eight to a byte, the last byte zero-padded."""
    flat = np.asarray(codes).reshape(-1)
    if not np.isin(flat, (-1, 1)).all():
        bad = flat[~np.isin(flat, (-1, 1))][0]
        raise ValueError(f"Invalid binary codes: expected values in {{-1, 1}}. Received a value {bad!r}")
    return np.packbits(flat > 0).tobytes()


def unpack_binary(data: bytes, shape) -> np.ndarray:
    """The inverse of :func:`pack_binary`: int8 codes of ``shape``."""
    count = int(np.prod(shape))
    packed = np.frombuffer(data, np.uint8)
    if len(packed) != -(-count // 8):
        raise ValueError(f"Invalid data: {len(packed)} bytes do not hold {count} binary codes of shape {tuple(shape)}")
    bits = np.unpackbits(packed)[:count]
    return np.where(bits == 1, 1, -1).astype(np.int8).reshape(shape)


PACKERS = {"ternary": (pack_ternary, unpack_ternary), "binary": (pack_binary, unpack_binary)}


def packed_size(model) -> dict:
    """Bytes of the quantized layers' kernels packed (codes at 2 / 1 bits plus float32 scales) against float32, per
    layer and in total (biases and other layers are not counted: they stay float32 either way)."""
    layers, packed_total, float_total = {}, 0, 0
    for layer in model.layers:
        if isinstance(layer, QUANTIZED_LAYERS):
            codes, scales = quantized_codes(layer)
            packed = len(PACKERS[layer.mode][0](codes)) + scales.nbytes
            layers[layer.name] = {"mode": layer.mode, "weights": int(codes.size), "packed_bytes": packed,
                                  "float32_bytes": int(codes.size) * 4}
            packed_total += packed
            float_total += int(codes.size) * 4
    if not layers:
        raise ValueError(f"Model {model.name!r} has no quantized layer (QuantizedDense, QuantizedConv2D).")
    return {"layers": layers, "packed_bytes": packed_total, "float32_bytes": float_total,
            "ratio": round(packed_total / float_total, 4)}
