"""MobileNet v1 (Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto and Adam, "MobileNets: Efficient
Convolutional Neural Networks for Mobile Vision Applications", 2017).

A 3x3/2 stem convolution, then 13 depthwise-separable blocks (3x3 depthwise conv → BN → ReLU6 → 1x1 pointwise conv
→ BN → ReLU6; table 1 of the paper), global average pooling, dropout and the classifier. The width multiplier
``alpha`` (the paper's alpha) scales every layer's channels to ``int(channels * alpha)``. The paper's resolution
multiplier rho is simply the input size (``input_shape``); ``depth_multiplier`` is the depthwise convolutions'
channel multiplier (keras.applications' argument of that name; 1 in the paper).

Same network as ``keras.applications.MobileNet`` (same layers in the same order, same BatchNorm settings, same
parameter count for every ``alpha`` and ``depth_multiplier``): weights converted layer by layer give the same
outputs on even-sized inputs. The only difference is the classifier: keras.applications ends with a 1x1
convolution "conv_preds" on the pooled map plus a Reshape, kerazoo with the equivalent Dense "predictions" (same
parameters; the kernel is the 1x1 kernel reshaped to (channels, classes)). Stride-2 depthwise convolutions pad "same",
which on even sizes equals keras.applications' explicit ((0, 1), (0, 1)) padding.

Registered variants, named by width multiplier in percent (timm's convention):
``mobilenet`` (alpha 1.0, 4.25M parameters), ``mobilenet_075``, ``mobilenet_050`` and ``mobilenet_025``
(alpha 0.75, 0.5 and 0.25, the widths of the paper's table 6 and of keras.applications' ImageNet weights).

Layer names: ``stem_conv/bn/relu``; blocks are grouped into stages that each start with the stride-2 block, and
block ``stage{S}_block{B}`` has ``_dw_conv``, ``_dw_bn``, ``_dw_relu``, ``_pw_conv``, ``_pw_bn`` and ``_out`` (the
last ReLU6). Feature taps: the last block of each stage, at strides 2, 4, 8, 16 and 32.
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
    "tf", "keras.applications' MobileNet weights ([-1, 1])"
)

PAPER = "Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (2017)"


@dataclass(frozen=True)
class Stage:
    """``blocks`` depthwise-separable blocks with ``filters`` pointwise filters (before alpha), the first with
    ``stride``."""

    filters: int
    blocks: int
    stride: int


STEM_FILTERS = 32
# Table 1 of the paper: 13 depthwise-separable blocks, grouped by output stride (2, 4, 8, 16, 32).
STAGES = (Stage(64, 1, 1), Stage(128, 2, 2), Stage(256, 2, 2), Stage(512, 6, 2), Stage(1024, 2, 2))


def conv_bn_relu6(x, filters, kernel_size, stride, *, name):
    """Conv (no bias) → BatchNorm → ReLU6, named ``{name}_conv``, ``{name}_bn``, ``{name}_relu``."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x)


def depthwise_separable_block(x, filters, stride, *, depth_multiplier, name):
    """3x3 depthwise conv → BN → ReLU6 → 1x1 pointwise conv → BN → ReLU6 (``{name}_out``)."""
    x = keras.layers.DepthwiseConv2D(
        3, strides=stride, padding="same", depth_multiplier=depth_multiplier, use_bias=False, name=f"{name}_dw_conv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{name}_pw_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_pw_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_out")(x)


def MobileNetV1(
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
    depth_multiplier: int,
    dropout: float,
):
    """The generic MobileNet v1 builder; the registered variants differ in their default ``alpha``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(f"Invalid alpha: expected a positive width multiplier. Received: alpha={alpha!r}")
    if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
        raise ValueError(
            f"Invalid depth_multiplier: expected a positive integer. Received: depth_multiplier={depth_multiplier!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid dropout: expected a rate in [0, 1). Received: dropout={dropout!r}")
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(224, 224, 3), min_size=32,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = conv_bn_relu6(inputs, int(STEM_FILTERS * alpha), 3, 2, name="stem")
    for s, stage in enumerate(STAGES, start=1):
        for b in range(1, stage.blocks + 1):
            x = depthwise_separable_block(
                x, int(stage.filters * alpha), stage.stride if b == 1 else 1,
                depth_multiplier=depth_multiplier, name=f"stage{s}_block{b}",
            )
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        dropout=dropout,
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def _taps() -> tuple[FeatureTap, ...]:
    taps, reduction = [], 2  # the stem has stride 2
    for s, stage in enumerate(STAGES, start=1):
        reduction *= stage.stride
        taps.append(FeatureTap(f"stage{s}_block{stage.blocks}_out", reduction))
    return tuple(taps)


_META = dict(family="mobilenet", paper=PAPER, year=2017, input_shape=(224, 224, 3), feature_taps=_taps(),
             min_input_size=32)


@register_model(**_META, reported_top1=70.6)
def MobileNet(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name="mobilenet", alpha=1.0, depth_multiplier=1, dropout=1e-3):
    """MobileNet v1 1.0-224 (4.25M parameters; 70.6 % ImageNet top-1 in the paper).

    Family arguments:
        alpha: width multiplier: every layer has ``int(channels * alpha)`` channels.
        depth_multiplier: channel multiplier of the depthwise convolutions (1 in the paper). This is not the
            paper's resolution multiplier, which is simply the input size.
        dropout: dropout rate before the classifier (1e-3, keras.applications' default).
    """
    return MobileNetV1(include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                       pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
                       alpha=alpha, depth_multiplier=depth_multiplier, dropout=dropout)


@register_model(**_META, reported_top1=68.4)
def MobileNet_075(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                  classifier_activation="softmax", name="mobilenet_075", alpha=0.75, depth_multiplier=1,
                  dropout=1e-3):
    """MobileNet v1 0.75-224 (2.6M parameters; 68.4 % ImageNet top-1 in the paper).

    Family arguments:
        alpha: width multiplier: every layer has ``int(channels * alpha)`` channels.
        depth_multiplier: channel multiplier of the depthwise convolutions (1 in the paper). This is not the
            paper's resolution multiplier, which is simply the input size.
        dropout: dropout rate before the classifier (1e-3, keras.applications' default).
    """
    return MobileNetV1(include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                       pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
                       alpha=alpha, depth_multiplier=depth_multiplier, dropout=dropout)


@register_model(**_META, reported_top1=63.7)
def MobileNet_050(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                  classifier_activation="softmax", name="mobilenet_050", alpha=0.5, depth_multiplier=1,
                  dropout=1e-3):
    """MobileNet v1 0.5-224 (1.3M parameters; 63.7 % ImageNet top-1 in the paper).

    Family arguments:
        alpha: width multiplier: every layer has ``int(channels * alpha)`` channels.
        depth_multiplier: channel multiplier of the depthwise convolutions (1 in the paper). This is not the
            paper's resolution multiplier, which is simply the input size.
        dropout: dropout rate before the classifier (1e-3, keras.applications' default).
    """
    return MobileNetV1(include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                       pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
                       alpha=alpha, depth_multiplier=depth_multiplier, dropout=dropout)


@register_model(**_META, reported_top1=50.6)
def MobileNet_025(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                  classifier_activation="softmax", name="mobilenet_025", alpha=0.25, depth_multiplier=1,
                  dropout=1e-3):
    """MobileNet v1 0.25-224 (0.48M parameters; 50.6 % ImageNet top-1 in the paper).

    Family arguments:
        alpha: width multiplier: every layer has ``int(channels * alpha)`` channels.
        depth_multiplier: channel multiplier of the depthwise convolutions (1 in the paper). This is not the
            paper's resolution multiplier, which is simply the input size.
        dropout: dropout rate before the classifier (1e-3, keras.applications' default).
    """
    return MobileNetV1(include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                       pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
                       alpha=alpha, depth_multiplier=depth_multiplier, dropout=dropout)

