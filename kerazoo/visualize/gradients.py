"""Gradients with respect to the input: the one backend switch, saliency maps and guided backpropagation.

- Saliency (Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional Networks", 2014): |d score_c / d image|,
  the maximum over colour channels.
- Guided backpropagation (Springenberg et al., "Striving for Simplicity: The All Convolutional Net", 2015): the same
  gradient, but every ReLU passes back only positive gradients where its input was positive. Done as a model rewrite
  (:func:`guided_model` clones the model with :class:`GuidedReLU` in place of each ReLU), never by patching a global
  gradient registry, so the original model is untouched.

Every input gradient in ``kerazoo.visualize`` goes through :func:`value_and_gradient` or :func:`gradient_function`
(compiled, for loops): they are the only backend-specific code (TensorFlow and JAX). Training (the fast style
network) uses Keras' own train step, so it needs no switch of its own.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerazoo.io import save_figure
from kerazoo.visualize.common import as_batch, new_figure, predict_class, show_map, display_image


def gradient_function(fn):
    """Compile ``fn(x, *args) -> scalar`` into ``(x, *args) -> (value, d value / d x)`` for repeated calls
    (optimization loops): a ``tf.function`` or ``jax.jit``, traced once per input shape."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def value_and_grad(x, *args):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = fn(x, *args)
            return value, tape.gradient(value, x)

        return value_and_grad
    if backend == "jax":
        import jax

        return jax.jit(jax.value_and_grad(fn))
    raise NotImplementedError(f"Input gradients are implemented for the tensorflow and jax backends, not {backend!r}.")


def value_and_gradient(fn, x):
    """``fn(x)`` (a scalar) and its gradient with respect to ``x``, computed once, eagerly (no compilation)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return value, tape.gradient(value, x)
    if backend == "jax":
        import jax

        return jax.value_and_grad(fn)(ops.convert_to_tensor(x))
    raise NotImplementedError(f"Input gradients are implemented for the tensorflow and jax backends, not {backend!r}.")


def class_score(model, class_index: int):
    """``images -> sum over the batch of the model's output for class_index`` (a logit for kerazoo runs)."""

    def score(images):
        return ops.sum(model(images, training=False)[:, class_index])

    return score


def check_class_index(model, class_index):
    classes = int(model.outputs[0].shape[-1])
    if not isinstance(class_index, (int, np.integer)) or not 0 <= class_index < classes:
        raise ValueError(f"Invalid class_index: expected an integer in [0, {classes}). Received: class_index={class_index!r}")
    return int(class_index)


def input_gradient(model, image, class_index: int | None = None):
    """(gradient (H, W, C) of the class score with respect to the image, the class used: the predicted one by default)."""
    image = as_batch(image)
    class_index = predict_class(model, image) if class_index is None else check_class_index(model, class_index)
    _, grad = value_and_gradient(class_score(model, class_index), image)
    return ops.convert_to_numpy(grad)[0], class_index


def saliency(model, image, *, class_index: int | None = None, out: str | None = None) -> np.ndarray:
    """Vanilla-gradient saliency map (H, W): max over channels of |d score / d pixel|; a PNG at ``out`` if given."""
    grad, class_index = input_gradient(model, image, class_index)
    values = np.abs(grad).max(axis=-1)
    if out:
        _plot_pair(image, values, f"Saliency |d score/d pixel| for class {class_index}", out, cmap="hot")
    return values


@ops.custom_gradient
def guided_relu(x):
    """ReLU whose gradient passes only where both the input and the incoming gradient are positive."""
    y = ops.relu(x)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        keep = ops.logical_and(ops.greater(x, 0), ops.greater(upstream, 0))
        return ops.where(keep, upstream, ops.zeros_like(upstream))

    return y, grad


@keras.saving.register_keras_serializable(package="kerazoo")
class GuidedReLU(keras.layers.Layer):
    """ReLU with the guided-backpropagation gradient (Springenberg et al., 2015)."""

    def call(self, inputs):
        return guided_relu(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


def _is_plain_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        config = layer.get_config()
        return config.get("max_value") is None and not config.get("negative_slope") and not config.get("threshold")
    return isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu


def _guided_clone(layer):
    if isinstance(layer, keras.Model):
        return guided_model(layer, copy_weights=False)
    if _is_plain_relu(layer):
        return GuidedReLU(name=layer.name)
    clone = layer.__class__.from_config(layer.get_config())
    if getattr(layer, "activation", None) is keras.activations.relu:
        clone.activation = guided_relu
    return clone


def guided_model(model, copy_weights: bool = True):
    """A copy of ``model`` whose ReLUs (ReLU layers, Activation("relu") and layers built with activation="relu",
    also inside nested models) use the guided gradient. Forward outputs are unchanged."""
    clone = keras.models.clone_model(model, clone_function=_guided_clone)
    if copy_weights:
        clone.set_weights(model.get_weights())
    return clone


def guided_backprop(model, image, *, class_index: int | None = None, out: str | None = None) -> np.ndarray:
    """Guided-backpropagation map (H, W): max over channels of the guided gradient's absolute value."""
    grad, class_index = input_gradient(guided_model(model), image, class_index)
    values = np.abs(grad).max(axis=-1)
    if out:
        _plot_pair(image, values, f"Guided backpropagation for class {class_index}", out, cmap="hot")
    return values


def _plot_pair(image, values, title: str, out: str, *, cmap: str) -> str:
    """The image beside its map (with colour bar)."""
    fig, axes = new_figure(1, 2)
    axes[0, 0].imshow(display_image(as_batch(image)[0]), cmap="gray")
    axes[0, 0].set_title("input", fontsize=9)
    show_map(fig, axes[0, 1], values, "map", cmap=cmap)
    return save_figure(fig, out, title)
