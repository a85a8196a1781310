"""FLOPs of a functional model, counted per layer from its weights and output shapes (2 x multiply-adds).

Counts the layers that dominate a CNN (convolutions of every kind and Dense); normalization, activations and pooling
are left out, as the papers do.
"""

from __future__ import annotations

import math

import keras


def _spatial(shape) -> int:
    return math.prod(int(d) for d in shape[1:-1] if d is not None)


def _layer_flops(layer) -> int:
    if isinstance(layer, keras.Model):
        return count_flops(layer)
    if not layer.built or not layer.weights:
        return 0
    kernel = getattr(layer, "kernel", None)
    try:
        out_shape = layer.output.shape
    except (AttributeError, ValueError):
        return 0
    if isinstance(layer, keras.layers.SeparableConv2D):
        depthwise = math.prod(layer.depthwise_kernel.shape)
        pointwise = math.prod(layer.pointwise_kernel.shape)
        in_positions = _spatial(out_shape)  # depthwise runs at the output resolution after striding
        return 2 * in_positions * (depthwise + pointwise)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return 2 * _spatial(out_shape) * math.prod(layer.kernel.shape)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        in_shape = layer.input.shape
        return 2 * _spatial(in_shape) * math.prod(kernel.shape)
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        return 2 * _spatial(out_shape) * math.prod(kernel.shape)
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(int(d) for d in out_shape[1:-1] if d is not None)
        return 2 * positions * math.prod(kernel.shape)
    return 0


def count_flops(model: keras.Model) -> int:
    """FLOPs for one image (batch size 1) through ``model``, nested models included."""
    return sum(_layer_flops(layer) for layer in model.layers)
