"""A linear classifier whose gradients the tests compute by hand."""

import keras
import numpy as np


def linear_model(weights, bias, *, scale=1.0, name="linear"):
    """logits = scale * (x.flatten() @ W + b) on inputs of shape (d,)."""
    inputs = keras.Input(shape=(weights.shape[0],), name="images")
    layer = keras.layers.Dense(weights.shape[1], name=f"{name}_dense")
    logits = layer(inputs)
    if scale != 1.0:
        logits = keras.layers.Rescaling(scale, name=f"{name}_scale")(logits)
    layer.set_weights([weights, bias])
    return keras.Model(inputs, logits, name=name)


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def input_gradient_by_hand(weights, bias, x, labels):
    """d CE(y, xW + b) / dx = (softmax(xW + b) - onehot(y)) W^T, per example."""
    probs = softmax(x @ weights + bias)
    probs[np.arange(len(labels)), labels] -= 1.0
    return probs @ weights.T


def random_linear(d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.05, (d, classes)).astype("float32"), rng.normal(0, 0.1, classes).astype("float32")
