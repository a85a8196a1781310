"""Numerical gradient checking of a layer or a loss (the "gradient check" of the CS231n notes, neural networks 3).

    from kerazoo.diagnostics import check_gradients
    report = check_gradients(keras.layers.Dense(4, name="fc"), np.random.rand(3, 5))
    print(report.table())          # one row per tensor: max relative error, elements checked, verdict
    assert report.passed

The analytic gradient (autodiff, including any custom gradient) is compared with centered differences
(f(x + h) - f(x - h)) / 2h, everything in float64 so that rounding does not hide or fake a mismatch. The objective
is a fixed random projection of the output, sum(R * f(x)), so one scalar checks the whole Jacobian. The relative error
of each element is |a - n| / max(|a|, |n|); per the notes, < 1e-7 is excellent, > 1e-4 is usually a bug (kinks such
as ReLU at 0 can give isolated larger errors: the check reports the largest).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

__all__ = ["check_gradients", "GradientCheck", "TensorCheck"]


@dataclass
class TensorCheck:
    name: str
    max_relative_error: float
    checked: int
    passed: bool


@dataclass
class GradientCheck:
    tensors: list
    tolerance: float

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)

    def table(self) -> str:
        rows = [f"{'tensor':<32} {'max rel. error':>14} {'checked':>8}  verdict"]
        for t in self.tensors:
            rows.append(f"{t.name:<32} {t.max_relative_error:>14.3e} {t.checked:>8}  {'ok' if t.passed else 'FAIL'}")
        return "\n".join(rows)


def _float64_copy(layer: keras.layers.Layer, sample_inputs) -> keras.layers.Layer:
    """The same layer with float64 weights (rebuilt from its config, weights copied)."""
    config = {**layer.get_config(), "dtype": "float64"}
    try:
        copy = type(layer).from_config(config)
    except Exception as error:  # any layer-specific failure means the same thing to the caller
        raise ValueError(f"Cannot rebuild layer {layer.name!r} in float64 from its config: {error}") from error
    copy(*sample_inputs)
    if layer.weights:
        copy.set_weights([np.asarray(w, dtype="float64") for w in layer.get_weights()])
    return copy


def _float64_loss(loss):
    """A ``keras.losses.Loss`` rebuilt to compute in float64 (it casts its inputs to its dtype); functions as is."""
    if isinstance(loss, keras.losses.Loss):
        return type(loss).from_config({**loss.get_config(), "dtype": "float64"})
    return loss


def check_gradients(layer_or_loss, inputs, *, y_true=None, eps: float = 1e-6, tolerance: float = 1e-5,
                    max_elements: int = 200, seed: int = 0) -> GradientCheck:
    """Compare autodiff gradients with centered differences for every input and trainable weight.

    Args:
        layer_or_loss: a Keras layer (called with ``training=False`` where it accepts it), a Keras loss or a loss
            function ``f(y_true, y_pred)`` (checked with respect to ``y_pred``).
        inputs: the layer's input array (or a tuple of arrays for a multi-input layer); for a loss, ``y_pred``.
        y_true: the loss's targets (losses only).
        eps: the finite-difference step h.
        tolerance: largest relative error that passes.
        max_elements: elements checked per tensor (a random sample when the tensor is larger).
        seed: seed of the projection and of the sample.

    Returns:
        A :class:`GradientCheck` with one :class:`TensorCheck` per input and weight.
    """
    import tensorflow as tf

    if not eps > 0:
        raise ValueError(f"Invalid eps: expected a value > 0. Received: eps={eps!r}")
    rng = np.random.default_rng(seed)
    arrays = [np.array(x, dtype="float64") for x in (inputs if isinstance(inputs, (tuple, list)) else [inputs])]
    is_layer = isinstance(layer_or_loss, keras.layers.Layer)
    if is_layer:
        function = _float64_copy(layer_or_loss, arrays)
        weights = list(function.trainable_weights)
    elif callable(layer_or_loss):
        if y_true is None:
            raise ValueError("Invalid y_true: checking a loss needs its targets. Received: y_true=None")
        function, weights = _float64_loss(layer_or_loss), []
    else:
        raise ValueError(f"Invalid layer_or_loss: expected a Keras layer or a loss. Received: {layer_or_loss!r}")

    variables = [tf.Variable(a, name=f"input_{i}") for i, a in enumerate(arrays)]
    projection = None

    def objective():
        nonlocal projection
        if is_layer:
            out = _call_layer(function, variables)
        else:
            out = function(y_true, variables[0])
        out = tf.cast(tf.convert_to_tensor(out), tf.float64)
        if projection is None:
            projection = tf.constant(rng.normal(size=out.shape.as_list()))
        return tf.reduce_sum(projection * out)

    objective()  # fixes the projection's shape
    targets = [(f"input {i}", v) for i, v in enumerate(variables)] + [(w.path or w.name, w) for w in weights]
    with tf.GradientTape() as tape:
        value = objective()
    analytic = tape.gradient(value, [v for _, v in targets])

    checks = []
    for (name, variable), grad in zip(targets, analytic):
        grad = np.zeros(variable.shape) if grad is None else np.asarray(grad)
        checks.append(_check_tensor(name, variable, grad, objective, eps, tolerance, max_elements, rng))
    return GradientCheck(checks, tolerance)


def _call_layer(layer, variables):
    import inspect

    if "training" in inspect.signature(layer.call).parameters:
        return layer(*variables, training=False)
    return layer(*variables)


def _check_tensor(name, variable, analytic, objective, eps, tolerance, max_elements, rng) -> TensorCheck:
    size = int(np.prod(variable.shape))
    positions = rng.choice(size, size=min(size, max_elements), replace=False)
    original = np.array(keras.ops.convert_to_numpy(variable), dtype="float64")
    worst = 0.0
    for flat in positions:
        index = np.unravel_index(flat, original.shape)
        numeric = _centered_difference(variable, original, index, objective, eps)
        a = float(analytic[index])
        scale = max(abs(a), abs(numeric))
        error = abs(a - numeric) / scale if scale > 1e-12 else 0.0
        worst = max(worst, error)
    variable.assign(original)
    return TensorCheck(name, worst, len(positions), worst <= tolerance)


def _centered_difference(variable, original, index, objective, eps) -> float:
    values = []
    for step in (eps, -eps):
        shifted = original.copy()
        shifted[index] += step
        variable.assign(shifted)
        values.append(float(objective()))
    return (values[0] - values[1]) / (2 * eps)
