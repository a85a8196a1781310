"""What every builder shares: argument validation, the input, the classification head and weight loading.

Each builder follows the same body order: ``check_args`` → ``model_input`` → stem → stages → ``classifier_head``
→ ``finalize``. Validation errors share one format: the argument, what is allowed, and the value received.

Layer-name scheme (enforced by a registry-wide test: no layer keeps an automatic Keras name):
``stem_*`` for the stem, ``stage{S}_block{B}_{op}`` inside stages (ops such as ``conv1``, ``bn1``, ``relu1``,
``add``, ``out``), ``avg_pool`` / ``max_pool`` for global pooling, ``head_dropout`` and ``predictions`` for the head (a
name equal to a layer class's automatic name, such as ``flatten`` or ``dropout``, is not allowed).
Feature taps (``registry.FeatureTap``) are layer names from this scheme.
"""

from __future__ import annotations

import contextvars
import os

import keras

from kerazoo.io import sha256_of, verify_sha256, write_sha256  # noqa: F401 (their old home; kerazoo.io owns them)

COMMON_ARGS_DOC = """
    Standard arguments (shared by every kerazoo builder, keyword-only):
        include_top: whether to end with the classifier (global pooling, optional dropout, Dense "predictions").
            Default True.
        weights: None (random initialization, the default); ``"imagenet"`` (the model's default pretrained tag);
            a named tag (``"keras_in1k"``, ``"tv_in1k"``, ``"timm/<hub id>"``: see
            ``kerazoo.applications.pretrained.weight_tags(name)``); or a local path: a kerazoo ``.weights.h5``
            (checked against ``PATH.sha256`` when that file sits beside it) or a source file (keras ``.h5``,
            PyTorch ``.pth``, ``.safetensors``, recognised by content) converted on load. Pretrained weights put
            the source's preprocessing inside the model (a first layer named ``preprocess``), so it still takes raw
            pixels 0-255. Tags are read from ``$KERAZOO_WEIGHTS_DIR`` (default ``~/.cache/kerazoo/weights``) and
            fetched by the source's own client only when not there; see docs/pretrained.md.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: (height, width, channels), channels-last. Default: the paper's input size. Any size the
            architecture admits, with 1 or 3 channels.
        pooling: with include_top=False, None (4-D feature map), "avg" or "max" (2-D pooled features).
        classes: number of classes of the classifier. Default: that of the paper's dataset.
        classifier_activation: activation of the "predictions" layer: "softmax" (default), None for logits, or
            any Keras activation name.
        name: the model's name.

    Returns:
        A functional ``keras.Model``.
"""


def _arg_error(arg: str, allowed: str, value) -> ValueError:
    return ValueError(f"Invalid {arg}: expected {allowed}. Received: {arg}={value!r}")


def check_args(
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    default_shape,
    min_size: int,
) -> tuple:
    """Validate the standard arguments and return the resolved ``input_shape`` (H, W, C)."""
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise _arg_error("weights", 'None, "imagenet", a weight tag or the path to a local weights file', weights)
    if weights is not None and not os.path.exists(weights):
        if not looks_like_path(weights):
            # Registered builders resolve tags before building (registry.register_model); a generic builder
            # called directly cannot.
            raise ValueError(
                f"Pretrained weights {str(weights)!r} are resolved by the registered builders and create_model; "
                "call one of them (e.g. create_model(name, weights=...)) or pass weights=None."
            )
        raise _arg_error("weights", "None, a weight tag or the path to an existing local weights file", str(weights))
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise _arg_error("classes", "a positive integer", classes)
    if pooling not in (None, "avg", "max"):
        raise _arg_error("pooling", 'None, "avg" or "max"', pooling)
    if include_top and pooling is not None:
        raise ValueError(
            f"pooling={pooling!r} only applies with include_top=False (the classifier has its own pooling)."
        )
    if classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            raise _arg_error("classifier_activation", "None or a Keras activation name", classifier_activation) from None
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "kerazoo builders are channels-last; set keras.config.set_image_data_format('channels_last'). "
            f"Received: image_data_format={keras.config.image_data_format()!r}"
        )

    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = tuple(default_shape)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise _arg_error("input_shape", "(height, width, channels)", input_shape)
    height, width, channels = input_shape
    if channels is None or channels < 1:
        raise _arg_error("input_shape", "a known number of channels >= 1", input_shape)
    for side in (height, width):
        if side is not None and side < min_size:
            raise _arg_error("input_shape", f"height and width of at least {min_size} for this architecture", input_shape)
    return input_shape


WEIGHT_FILE_SUFFIXES = (".h5", ".hdf5", ".keras", ".pth", ".pt", ".bin", ".safetensors")


def looks_like_path(weights) -> bool:
    """Whether a ``weights`` value names a file rather than a tag (tags such as "timm/<hub id>" hold a slash too)."""
    text = os.fspath(weights)
    return (
        isinstance(weights, os.PathLike)
        or os.path.exists(text)
        or text.lower().endswith(WEIGHT_FILE_SUFFIXES)
        or text.startswith((".", "~", os.sep))
    )


# The preprocessing of the pretrained weights being loaded (a ``tags.Preprocessing``), set by the registry's
# builder wrapper for the duration of one build, so that every builder gets the ``preprocess`` layer without
# knowing about pretrained weights.
PRETRAINED_PREPROCESSING: contextvars.ContextVar = contextvars.ContextVar("pretrained_preprocessing", default=None)


def model_input(input_tensor, input_shape):
    """The model's Input (named ``images``), or a wrapper around ``input_tensor``; then, when pretrained weights
    are being loaded, their ``preprocess`` layer (so the model still takes raw pixels 0-255)."""
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="images")
    elif not keras.backend.is_keras_tensor(input_tensor):
        inputs = keras.Input(tensor=input_tensor, shape=input_shape, name="images")
    else:
        inputs = input_tensor
    preprocessing = PRETRAINED_PREPROCESSING.get()
    if preprocessing is None:
        return inputs
    from kerazoo.applications.pretrained.preprocess import Preprocess

    return Preprocess(preprocessing.mode, preprocessing.mean, preprocessing.std, name="preprocess")(inputs)


def classifier_head(x, *, include_top: bool, pooling, classes: int, classifier_activation, dropout: float = 0.0):
    """Global average pooling, optional dropout and the Dense ``predictions`` layer; or the optional pooling."""
    if include_top:
        if len(x.shape) == 4:
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finalize(inputs, outputs, *, name: str, weights, input_tensor) -> keras.Model:
    """Make the functional model from the source inputs of ``input_tensor`` (when given) or of ``inputs`` (which
    may be the output of the ``preprocess`` layer) and load weights."""
    inputs = keras.utils.get_source_inputs(input_tensor if input_tensor is not None else inputs)
    # A single input as a tensor, not a one-element list: callers pass one array and Keras warns on a mismatch.
    inputs = inputs[0] if len(inputs) == 1 else inputs
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        verify_sha256(weights)
        model.load_weights(weights)
    return model


def check_dropout(dropout) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid dropout: expected a probability in [0, 1). Received: dropout={dropout!r}")
    return float(dropout)


def fully_connected_head(x, *, units=(4096, 4096), dropout: float, classes: int, classifier_activation):
    """Flatten → (Dense + ReLU → Dropout) per hidden layer → Dense ``predictions``; the AlexNet/VGG head."""
    x = keras.layers.Flatten(name="head_flatten")(x)
    for i, width in enumerate(units, start=1):
        x = keras.layers.Dense(width, activation="relu", name=f"head_fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"head_dropout{i}")(x)
    return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


PADDINGS = ("same", "torch")


def check_padding(padding) -> str:
    """``"same"`` (Keras: a stride-2 window pads bottom/right only) or ``"torch"`` (PyTorch's layout: symmetric
    padding, unpadded or ceil-mode pooling, as the family's torchvision/timm reference has it)."""
    if padding not in PADDINGS:
        raise _arg_error("padding", " or ".join(repr(p) for p in PADDINGS), padding)
    return padding


def symmetric_padding(x, kernel_size: int, *, name: str):
    """PyTorch's ``padding=(k - 1) // 2`` as an explicit ZeroPadding2D (``name``), for a "valid" layer after it.

    With stride 2 on an even input Keras' "same" pads one pixel at the bottom/right only, so the windows sit one
    pixel off PyTorch's and weights trained there give other outputs.
    """
    return keras.layers.ZeroPadding2D((kernel_size - 1) // 2, name=name)(x)


def ceil_mode_padding(x, pool_size: int, strides: int, *, name: str):
    """Zeros at the bottom/right so that "valid" pooling gives PyTorch's ``ceil_mode=True`` windows (no padding).

    Only for max pooling of non-negative maps (after a ReLU), where a zero never wins over PyTorch's -inf. Returns
    ``x`` unchanged (no layer) when ceil and floor agree at this size.
    """
    height, width = x.shape[1:3]
    if height is None or width is None:
        raise ValueError(f"{name}: ceil-mode pooling needs a fixed input size. Received a {height}x{width} map.")

    def extra(side):
        windows = -(-(side - pool_size) // strides) + 1  # ceil((side - k) / s) + 1
        return (windows - 1) * strides + pool_size - side

    pad_h, pad_w = extra(height), extra(width)
    if not pad_h and not pad_w:
        return x
    return keras.layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name=name)(x)
