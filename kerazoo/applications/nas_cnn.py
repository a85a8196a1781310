"""Child CNNs of a neural architecture search (Zoph and Le, "Neural Architecture Search with Reinforcement
Learning", ICLR 2017), built from an architecture given as plain data.

    architecture = [
        {"filters": 16, "kernel_size": 3, "skips": []},
        {"filters": 32, "kernel_size": 5, "skips": [], "pool": True},
        {"filters": 32, "kernel_size": 3, "skips": [0]},      # also reads layer 0's output
    ]
    model = NasCNN(architecture=architecture, input_shape=(28, 28, 1), classes=10)

Layer ``i`` is conv (``kernel_size``, ``filters``, same padding) → BatchNorm (momentum 0.9) → ReLU, and, with
``pool``, a 2x2 max pool after it. Its input is the previous layer's output (the image for layer 0) concatenated
along channels with the outputs of the earlier layers listed in ``skips`` (Zoph and Le's skip connections;
max-pooled down to the current size where a pool lies between). The head is global average pooling and the Dense
``predictions``.

The search space that samples these lists lives in ``kerazoo.training.nas_space``; this module only reads the list,
so the zoo never imports training. The architecture is a builder argument (``model.kwargs.architecture`` in a
training config), so a searched architecture trains, exports and serves like any registered model.
"""

from __future__ import annotations

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import register_model

PAPER = "Zoph and Le, Neural Architecture Search with Reinforcement Learning (2017)"

# The architecture used when none is given (registry-wide tests, `kerazoo models`): three layers, one skip.
DEFAULT_ARCHITECTURE = (
    {"filters": 16, "kernel_size": 3, "skips": []},
    {"filters": 32, "kernel_size": 3, "skips": [], "pool": True},
    {"filters": 32, "kernel_size": 3, "skips": [0], "pool": True},
)

LAYER_KEYS = ("filters", "kernel_size", "skips", "pool")


def check_architecture(architecture) -> list[dict]:
    """The architecture as a list of complete layer dicts (``pool`` default False); a ValueError naming the first
    bad layer and value otherwise."""
    if isinstance(architecture, (str, bytes, dict)) or not hasattr(architecture, "__len__") or not architecture:
        raise ValueError("Invalid architecture: expected a non-empty list of layers, each {filters, kernel_size, "
                         f"skips[, pool]}}. Received: architecture={architecture!r}")
    layers = []
    for i, layer in enumerate(architecture):
        if not isinstance(layer, dict):
            raise ValueError(f"Invalid architecture layer {i}: expected a dict. Received: {layer!r}")
        unknown = sorted(set(layer) - set(LAYER_KEYS))
        if unknown:
            raise ValueError(f"Invalid architecture layer {i}: unknown key(s) {', '.join(unknown)} (expected "
                             f"{', '.join(LAYER_KEYS)}). Received: {layer!r}")
        for key in ("filters", "kernel_size"):
            value = layer.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Invalid architecture layer {i}: expected {key} a positive integer. "
                                 f"Received: {key}={value!r}")
        skips = layer.get("skips", [])
        if (not isinstance(skips, (list, tuple)) or len(set(skips)) != len(skips)
                or not all(isinstance(j, int) and not isinstance(j, bool) and 0 <= j < i - 1 for j in skips)):
            raise ValueError(f"Invalid architecture layer {i}: expected skips a list of distinct earlier layers "
                             f"0..{i - 2} (layer {i - 1} is its input anyway). Received: skips={skips!r}")
        pool = layer.get("pool", False)
        if not isinstance(pool, bool):
            raise ValueError(f"Invalid architecture layer {i}: expected pool true or false. Received: pool={pool!r}")
        layers.append({"filters": layer["filters"], "kernel_size": layer["kernel_size"], "skips": sorted(skips),
                       "pool": pool})
    return layers


def _skip_input(outputs, i: int, j: int):
    """Layer ``j``'s output brought to the size of layer ``i``'s input by one max pool (``layer{i}_skip{j}_pool``)."""
    source, target = outputs[j], outputs[i - 1]
    factor = source.shape[1] // target.shape[1] if source.shape[1] and target.shape[1] else 1
    if factor > 1:
        source = keras.layers.MaxPooling2D(factor, padding="same", name=f"layer{i}_skip{j}_pool")(source)
    return source


@register_model(family="nas", paper=PAPER, year=2017, input_shape=(28, 28, 1), dataset="fashion_mnist",
                min_input_size=8, name="nas_cnn")
def NasCNN(
    *,
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes: int = 10,
    classifier_activation="softmax",
    name: str = "nas_cnn",
    architecture=DEFAULT_ARCHITECTURE,
):
    """A child network of the architecture search, from its architecture as data.

    Family arguments:
        architecture: a list of layers, each ``{"filters": int, "kernel_size": int, "skips": [earlier layer
            indices], "pool": bool}`` (``pool`` optional, default false). Default: a three-layer network with one
            skip connection. ``kerazoo search --method nas`` writes the best one it found into a training config.
    """
    layers = check_architecture(architecture)
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(28, 28, 1), min_size=8,
    )
    inputs = common.model_input(input_tensor, input_shape)
    outputs = []
    for i, layer in enumerate(layers):
        x = inputs if i == 0 else outputs[-1]
        if layer["skips"]:
            sources = [x] + [_skip_input(outputs, i, j) for j in layer["skips"]]
            x = keras.layers.Concatenate(name=f"layer{i}_concat")(sources)
        x = keras.layers.Conv2D(layer["filters"], layer["kernel_size"], padding="same", use_bias=False,
                                name=f"layer{i}_conv")(x)
        # Momentum 0.9, not Keras' 0.99: children train a few hundred steps, and with 0.99 the moving statistics
        # are still near their initial values then, so validation accuracy (the reward) would be near chance.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"layer{i}_bn")(x)
        x = keras.layers.ReLU(name=f"layer{i}_relu")(x)
        if layer["pool"] and x.shape[1] != 1:  # a map already 1x1 (deep pools on small inputs) stays as it is
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"layer{i}_pool")(x)
        outputs.append(x)
    x = common.classifier_head(outputs[-1], include_top=include_top, pooling=pooling, classes=classes,
                               classifier_activation=classifier_activation)
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)
