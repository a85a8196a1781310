"""FLOPs of a functional model, counted per layer from its weights and input and output shapes (2 x multiply-adds).

Counts the layers that dominate a CNN or a transformer (convolutions of every kind, Dense, multi-head attention, and
any of these under ``TimeDistributed``); normalization, activations and pooling are left out, as the papers do.

A custom layer whose work the counter cannot see from outside (one that calls its sublayers in a loop, say) declares
it: a method ``flops(input_shape) -> int`` (FLOPs for one example, ``input_shape`` as the layer was called with,
batch dimension included) is called instead of the rules here; :func:`matmul_flops` counts its Dense sublayers and
RNN cells.
"""

from __future__ import annotations

import math

import keras


def _positions(shape) -> int:
    """Positions a layer applies its kernel at: the product of the known dimensions between batch and channels."""
    return math.prod(int(d) for d in shape[1:-1] if d is not None)


def _shape(tensors):
    return [tuple(t.shape) for t in tensors] if isinstance(tensors, (list, tuple)) else tuple(tensors.shape)


def matmul_flops(*layers) -> int:
    """FLOPs of one call of each of ``layers`` on a single vector: 2 x the sizes of their weight matrices (a Dense
    kernel; an RNN cell's kernel and recurrent kernel). Biases and element-wise gates are left out, as elsewhere."""
    return 2 * sum(math.prod(w.shape) for layer in layers for w in layer.weights if len(w.shape) == 2)


def _attention_flops(layer, query_shape, value_shape) -> int:
    queries, keys = _positions(query_shape), _positions(value_shape)  # keys pair with values: same length
    projections = (queries * (math.prod(layer.query_dense.kernel.shape) + math.prod(layer.output_dense.kernel.shape))
                   + keys * (math.prod(layer.key_dense.kernel.shape) + math.prod(layer.value_dense.kernel.shape)))
    scores_and_mix = queries * keys * layer.num_heads * (layer.key_dim + (layer.value_dim or layer.key_dim))
    return 2 * (projections + scores_and_mix)


def _flops(layer, in_shape, out_shape) -> int:
    declared = getattr(layer, "flops", None)
    if callable(declared):
        return int(declared(in_shape))
    if isinstance(layer, keras.layers.TimeDistributed):
        steps = int(in_shape[1] or 0)
        return steps * _flops(layer.layer, (in_shape[0], *in_shape[2:]), (out_shape[0], *out_shape[2:]))
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return _attention_flops(layer, in_shape[0], in_shape[1])  # inputs: query, value (then key, masks)
    kernel = getattr(layer, "kernel", None)
    if isinstance(layer, keras.layers.SeparableConv2D):
        depthwise = math.prod(layer.depthwise_kernel.shape)
        pointwise = math.prod(layer.pointwise_kernel.shape)
        in_positions = _positions(out_shape)  # depthwise runs at the output resolution after striding
        return 2 * in_positions * (depthwise + pointwise)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return 2 * _positions(out_shape) * math.prod(layer.kernel.shape)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return 2 * _positions(in_shape) * math.prod(kernel.shape)
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)):
        return 2 * _positions(out_shape) * math.prod(kernel.shape)
    return 0


def _layer_flops(layer) -> int:
    if isinstance(layer, keras.Model):
        return count_flops(layer)
    if not layer.built or not layer.weights:
        return 0
    try:
        in_shape, out_shape = _shape(layer.input), _shape(layer.output)
    except (AttributeError, ValueError):
        return 0
    return _flops(layer, in_shape, out_shape)


def count_flops(model: keras.Model) -> int:
    """FLOPs for one image (batch size 1) through ``model``, nested models included."""
    return sum(_layer_flops(layer) for layer in model.layers)
