"""Squeeze-and-excitation (Hu, Shen and Sun, "Squeeze-and-Excitation Networks", 2018), as a tensor-to-tensor block.

    y = squeeze_excite(x, 16, name="stage1_block1_se")

squeezes ``x`` (N, H, W, C) to its per-channel means, excites them through a bottleneck of ``max(1, C // ratio)``
ReLU units and C sigmoid gates, and rescales the channels of ``x`` by the gates. It is built from plain Keras layers
(so models that use it save and reload with ``safe_mode=True``), named ``{name}_squeeze``, ``{name}_reduce``,
``{name}_expand`` and ``{name}_scale``. The two fully-connected layers are 1x1 convolutions with biases, as in the
authors' released models, so the block adds ``2 * C * hidden + hidden + C`` parameters.
"""

from __future__ import annotations

import keras


def squeeze_excite(x, ratio: int, *, name: str):
    """Apply a squeeze-and-excitation block to a channels-last 4-D tensor.

    Args:
        x: input tensor of shape (batch, height, width, channels).
        ratio: reduction ratio r (16 in the paper): the excitation bottleneck has ``max(1, channels // r)`` units.
        name: prefix of the block's layer names.

    Returns:
        A tensor of the same shape as ``x``: ``x`` times per-channel gates in (0, 1).
    """
    if not isinstance(ratio, int) or isinstance(ratio, bool) or ratio < 1:
        raise ValueError(f"Invalid ratio: expected a positive integer. Received: ratio={ratio!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"Invalid name: expected a non-empty layer-name prefix. Received: name={name!r}")
    if len(x.shape) != 4 or x.shape[-1] is None:
        raise ValueError(
            f"Invalid x: expected a 4-D channels-last tensor with known channels. Received: x.shape={tuple(x.shape)}"
        )
    channels = int(x.shape[-1])
    hidden = max(1, channels // ratio)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = keras.layers.Conv2D(hidden, 1, activation="relu", name=f"{name}_reduce")(s)
    s = keras.layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])
