"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov and Chen, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", 2018).

A 3x3/2 stem convolution, 17 inverted-residual blocks (1x1 expansion conv → BN → ReLU6 → 3x3 depthwise conv → BN →
ReLU6 → 1x1 linear projection → BN, with an identity shortcut when stride is 1 and the channels match), a 1x1
convolution to 1280 channels, global average pooling and the classifier. The blocks come from the paper's table 2,
``BLOCKS`` below: rows of (expansion t, channels c, repeats n, stride s), the first block of a row with stride s.

The width multiplier ``alpha`` scales channels to a multiple of 8 (``make_divisible``); the last convolution keeps
1280 channels for alpha <= 1 and grows with alpha above 1, as in the paper. The network equals
``keras.applications.MobileNetV2`` for the same ``alpha``: the same layers in the same order with the same shapes and
BatchNorm settings (epsilon 1e-3, momentum 0.999 unless ``bn_momentum`` says otherwise), so the parameter counts
are equal and weights converted layer by layer give the same outputs on even-sized inputs (stride-2 depthwise
convolutions pad "same", which keras.applications spells as an explicit ``correct_pad`` ZeroPadding2D).

Registered variants, named by width multiplier in percent (timm's convention): ``mobilenetv2`` (alpha 1.0, 3.5M
parameters), ``mobilenetv2_035`` (1.7M) and ``mobilenetv2_140`` (6.2M), the smallest, standard and largest widths of
the paper. Any other width (keras.applications also has ImageNet weights for 0.5, 0.75 and 1.3) is the ``alpha``
argument of any of them, e.g. ``create_model("mobilenetv2", alpha=0.75, name="mobilenetv2_075")``.

PyTorch's MobileNetV2 (torchvision's ``mobilenet_v2``, timm's ``mobilenetv2_100``) is the alpha-1.0 network with
two differences that change the outputs, not the parameters: its stride-2 convolutions pad one pixel on every side
(Keras' "same" pads only the bottom/right of an even input) and its BatchNorm epsilon is 1e-5. ``mobilenetv2_tv``
is that layout (``padding="torch"``: a ``stem_pad`` / ``{block}_dw_pad`` ZeroPadding2D before each stride-2
convolution, which then pads "valid"); torchvision's and timm's weights load into it. Same 3,504,872 trainable
parameters as torchvision's.

Layer names: ``stem_conv/bn/relu``; each table row is a stage, and block ``stage{S}_block{B}`` has ``_expand_conv``,
``_expand_bn``, ``_expand_relu`` (absent when t = 1), ``_dw_conv``, ``_dw_bn``, ``_dw_relu``, ``_project_conv``,
``_project_bn`` and, with a shortcut, ``_add``; then ``top_conv/bn/relu``. Feature taps (as timm's): the first
block (stride 2) and the last block of the stages ending at strides 4, 8, 16 and 32 (320 channels at stride 32; the
1280-channel ``top_relu`` is the include_top=False output).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.pretrained.labels import decode_predictions  # noqa: F401  (ImageNet classes)
from kerazoo.applications.pretrained.preprocess import preprocess_input_for
from kerazoo.applications.registry import FeatureTap, register_model

# For arrays fed to a model built without weights: what the pretrained models' ``preprocess`` layer does.
preprocess_input = preprocess_input_for(
    "tf", "keras.applications' MobileNetV2 weights ([-1, 1])"
)

PAPER = "Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks (2018)"


@dataclass(frozen=True)
class BlockRow:
    """One row of the paper's table 2: ``repeats`` blocks with expansion factor ``expansion`` and ``channels``
    output channels (before alpha), the first with ``stride``."""

    expansion: int
    channels: int
    repeats: int
    stride: int


STEM_CHANNELS = 32
TOP_CHANNELS = 1280
BLOCKS = (
    BlockRow(1, 16, 1, 1),
    BlockRow(6, 24, 2, 2),
    BlockRow(6, 32, 3, 2),
    BlockRow(6, 64, 4, 2),
    BlockRow(6, 96, 3, 1),
    BlockRow(6, 160, 3, 2),
    BlockRow(6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``), never more than 10 % down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _bn(x, *, momentum, epsilon=1e-3, name):
    return keras.layers.BatchNormalization(epsilon=epsilon, momentum=momentum, name=name)(x)


def inverted_residual_block(x, channels, expansion, stride, *, bn_momentum=0.999, bn_epsilon=1e-3, padding="same",
                            name):
    """1x1 expansion (when ``expansion`` > 1) → 3x3 depthwise → linear 1x1 projection, plus the identity shortcut
    when the stride is 1 and the channels match. ``padding="torch"`` pads a stride-2 depthwise convolution
    symmetrically (``{name}_dw_pad``), as PyTorch does."""
    in_channels = x.shape[-1]
    shortcut = x
    if expansion != 1:
        x = keras.layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        x = _bn(x, momentum=bn_momentum, epsilon=bn_epsilon, name=f"{name}_expand_bn")
        x = keras.layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    dw_padding = "same"
    if padding == "torch" and stride > 1:
        x, dw_padding = common.symmetric_padding(x, 3, name=f"{name}_dw_pad"), "valid"
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding=dw_padding, use_bias=False, name=f"{name}_dw_conv")(x)
    x = _bn(x, momentum=bn_momentum, epsilon=bn_epsilon, name=f"{name}_dw_bn")
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = _bn(x, momentum=bn_momentum, epsilon=bn_epsilon, name=f"{name}_project_bn")
    if stride == 1 and in_channels == channels:
        x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def MobileNetV2Base(
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    name: str,
    alpha: float,
    bn_momentum: float = 0.999,
    bn_epsilon: float = 1e-3,
    padding: str = "same",
):
    """The generic MobileNetV2 builder; the registered variants differ in their default ``alpha``, and
    ``mobilenetv2_tv`` in PyTorch's layout (``padding="torch"``, ``bn_epsilon=1e-5``)."""
    common.check_padding(padding)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(f"Invalid alpha: expected a positive width multiplier. Received: alpha={alpha!r}")
    if isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float)) or not 0 <= bn_momentum < 1:
        raise ValueError(f"Invalid bn_momentum: expected a number in [0, 1). Received: bn_momentum={bn_momentum!r}")
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(224, 224, 3), min_size=32,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x, stem_padding = inputs, "same"
    if padding == "torch":
        x, stem_padding = common.symmetric_padding(x, 3, name="stem_pad"), "valid"
    x = keras.layers.Conv2D(
        make_divisible(STEM_CHANNELS * alpha), 3, strides=2, padding=stem_padding, use_bias=False, name="stem_conv"
    )(x)
    x = _bn(x, momentum=bn_momentum, epsilon=bn_epsilon, name="stem_bn")
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    for s, row in enumerate(BLOCKS, start=1):
        for b in range(1, row.repeats + 1):
            x = inverted_residual_block(
                x, make_divisible(int(row.channels * alpha)), row.expansion, row.stride if b == 1 else 1,
                bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, padding=padding, name=f"stage{s}_block{b}",
            )
    top_channels = make_divisible(TOP_CHANNELS * alpha) if alpha > 1.0 else TOP_CHANNELS
    x = keras.layers.Conv2D(top_channels, 1, use_bias=False, name="top_conv")(x)
    x = _bn(x, momentum=bn_momentum, epsilon=bn_epsilon, name="top_bn")
    x = keras.layers.ReLU(6.0, name="top_relu")(x)
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def _taps() -> tuple[FeatureTap, ...]:
    """The last block of the first stage and of every stage followed by a stride change (or the last stage)."""
    taps, reduction = [], 2  # the stem has stride 2
    for s, row in enumerate(BLOCKS, start=1):
        reduction *= row.stride
        last_stage = s == len(BLOCKS)
        if s == 1 or last_stage or BLOCKS[s].stride != 1:
            # A stage's last block has a shortcut unless it is the stage's only block (which changes channels).
            op = "add" if row.repeats > 1 else "project_bn"
            taps.append(FeatureTap(f"stage{s}_block{row.repeats}_{op}", reduction))
    return tuple(taps)


_META = dict(family="mobilenetv2", paper=PAPER, year=2018, input_shape=(224, 224, 3), feature_taps=_taps(),
             min_input_size=32)


@register_model(**_META, reported_top1=72.0)
def MobileNetV2(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="mobilenetv2", alpha=1.0,
                bn_momentum=0.999):
    """MobileNetV2 1.0-224 (3.5M parameters; 72.0 % ImageNet top-1 in the paper).

    Family arguments:
        alpha: width multiplier: channels are ``make_divisible(channels * alpha, 8)``; the last 1x1 convolution
            keeps 1280 channels unless alpha > 1.
        bn_momentum: BatchNorm moving-average momentum. 0.999 (keras.applications') suits long ImageNet runs; on a
            short run (a few thousand steps) the moving statistics lag far behind and inference-mode accuracy
            collapses, so short runs from scratch use 0.99 (``configs/fashion_mobilenetv2.yaml`` does).
    """
    return MobileNetV2Base(include_top=include_top, weights=weights, input_tensor=input_tensor,
                           input_shape=input_shape, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, name=name, alpha=alpha,
                           bn_momentum=bn_momentum)


@register_model(**_META, reported_top1=None)
def MobileNetV2_035(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name="mobilenetv2_035", alpha=0.35,
                    bn_momentum=0.999):
    """MobileNetV2 0.35-224 (1.7M parameters; the paper plots but does not tabulate its top-1).

    Family arguments:
        alpha: width multiplier: channels are ``make_divisible(channels * alpha, 8)``; the last 1x1 convolution
            keeps 1280 channels unless alpha > 1.
        bn_momentum: BatchNorm moving-average momentum. 0.999 (keras.applications') suits long ImageNet runs; on a
            short run (a few thousand steps) the moving statistics lag far behind and inference-mode accuracy
            collapses, so short runs from scratch use 0.99 (``configs/fashion_mobilenetv2.yaml`` does).
    """
    return MobileNetV2Base(include_top=include_top, weights=weights, input_tensor=input_tensor,
                           input_shape=input_shape, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, name=name, alpha=alpha,
                           bn_momentum=bn_momentum)


@register_model(**_META, reported_top1=74.7, tags=("heavy",))
def MobileNetV2_140(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name="mobilenetv2_140", alpha=1.4,
                    bn_momentum=0.999):
    """MobileNetV2 1.4-224 (6.2M parameters; 74.7 % ImageNet top-1 in the paper).

    Family arguments:
        alpha: width multiplier: channels are ``make_divisible(channels * alpha, 8)``; the last 1x1 convolution
            keeps 1280 channels unless alpha > 1.
        bn_momentum: BatchNorm moving-average momentum. 0.999 (keras.applications') suits long ImageNet runs; on a
            short run (a few thousand steps) the moving statistics lag far behind and inference-mode accuracy
            collapses, so short runs from scratch use 0.99 (``configs/fashion_mobilenetv2.yaml`` does).
    """
    return MobileNetV2Base(include_top=include_top, weights=weights, input_tensor=input_tensor,
                           input_shape=input_shape, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, name=name, alpha=alpha,
                           bn_momentum=bn_momentum)


@register_model(**_META, reported_top1=72.0, name="mobilenetv2_tv")
def MobileNetV2_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                   classifier_activation="softmax", name="mobilenetv2_tv", alpha=1.0, bn_momentum=0.9):
    """MobileNetV2 1.0-224 in PyTorch's layout (torchvision's ``mobilenet_v2``, timm's ``mobilenetv2_100``):
    symmetric padding of the stride-2 convolutions and BatchNorm epsilon 1e-5; their weights load into it.

    Family arguments:
        alpha: width multiplier: channels are ``make_divisible(channels * alpha, 8)``; the last 1x1 convolution
            keeps 1280 channels unless alpha > 1 (the published weights are alpha 1.0).
        bn_momentum: BatchNorm moving-average momentum; 0.9 is PyTorch's default (its momentum 0.1).
    """
    return MobileNetV2Base(include_top=include_top, weights=weights, input_tensor=input_tensor,
                           input_shape=input_shape, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, name=name, alpha=alpha,
                           bn_momentum=bn_momentum, bn_epsilon=1e-5, padding="torch")
