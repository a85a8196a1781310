"""ShuffleNet V2 (Ma, Zhang, Zheng and Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design", 2018).

A 3x3/2 stem convolution with 24 filters and a 3x3/2 max pooling, three stages of 4, 8 and 4 units, a 1x1
convolution (1024 or 2048 channels), global average pooling and a Dense classifier (table 5 of the paper).
A stride-1 unit (figure 3c) splits the channels in two halves (``ChannelSplit``), keeps the first and sends the
second through 1x1 conv → BN → ReLU → 3x3 depthwise conv → BN → 1x1 conv → BN → ReLU, concatenates both and
shuffles the channels (``ChannelShuffle``, 2 groups). A stride-2 unit (figure 3d) feeds the whole input to both
branches (the left one: 3x3/2 depthwise conv → BN → 1x1 conv → BN → ReLU), doubling the channels.

Registered variants, named as in torchvision by the paper's complexity label:
``shufflenetv2_x0_5``, ``shufflenetv2_x1_0``, ``shufflenetv2_x1_5`` and ``shufflenetv2_x2_0`` (stage channels
48/96/192, 116/232/464, 176/352/704 and 244/488/976).

Parameters: the trainable parameters equal torchvision's ``shufflenet_v2_x*`` (1,366,792, 2,278,604, 3,503,624 and
7,393,996 at 1000 classes). ``count_params()`` is larger by the BatchNorm moving mean and variance (two per BN
channel), which Keras counts as (non-trainable) weights and PyTorch keeps as buffers: 2,294,784 in all for x1_0, i.e.
16,180 more. The stem convolution and max pooling pad "same" (torchvision pads 1 on every side), which changes
where the stride-2 windows sit on even inputs but no shapes or parameters. The ``_tv`` variants
(``shufflenetv2_x0_5_tv`` ... ``shufflenetv2_x2_0_tv``, ``padding="torch"``) pad like torchvision (a ``stem_pad``,
``stem_pool_pad`` and ``{unit}_{branch}_dw_pad`` ZeroPadding2D before each stride-2 layer, which then pads "valid"),
so torchvision's weights (tag ``tv_in1k``) give torchvision's outputs in them.

Layer names: ``stem_conv/bn/relu/pool``; unit ``stage{S}_block{B}`` (S = 2, 3, 4 as in the paper) has ``_split``
(stride 1), ``_branch1_*`` (stride 2: ``dw_conv``, ``dw_bn``, ``pw_conv``, ``pw_bn``, ``pw_relu``), ``_branch2_*``
(``pw1_conv``, ``pw1_bn``, ``pw1_relu``, ``dw_conv``, ``dw_bn``, ``pw2_conv``, ``pw2_bn``, ``pw2_relu``),
``_concat`` and ``_shuffle`` (the unit's output); then ``top_conv/bn/relu``. Feature taps: the stem (stride 2), its
pooling (4) and the last unit of each stage (8, 16, 32).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.layers import ChannelShuffle, ChannelSplit

PAPER = "Ma et al., ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (2018)"

STEM_CHANNELS = 24
REPEATS = (4, 8, 4)  # units of stages 2, 3 and 4; the first of each has stride 2


@dataclass(frozen=True)
class Width:
    """Output channels of stages 2-4 and of the last 1x1 convolution (table 5 of the paper)."""

    stages: tuple[int, int, int]
    top: int


WIDTHS = {
    "x0_5": Width((48, 96, 192), 1024),
    "x1_0": Width((116, 232, 464), 1024),
    "x1_5": Width((176, 352, 704), 1024),
    "x2_0": Width((244, 488, 976), 2048),
}


def _conv_bn(x, filters, *, name, relu=True):
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _dw_bn(x, stride, *, padding="same", name):
    conv_padding = "same"
    if padding == "torch" and stride > 1:
        x, conv_padding = common.symmetric_padding(x, 3, name=f"{name}_pad"), "valid"
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding=conv_padding, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)


def shuffle_unit(x, channels, stride, *, padding="same", name):
    """The ShuffleNet V2 unit: channel split (stride 1) or two branches (stride 2), concatenation, channel shuffle."""
    branch_channels = channels // 2
    if stride == 1:
        left, right = ChannelSplit(2, name=f"{name}_split")(x)
    else:
        left = _dw_bn(x, stride, padding=padding, name=f"{name}_branch1_dw")
        left = _conv_bn(left, branch_channels, name=f"{name}_branch1_pw")
        right = x
    right = _conv_bn(right, branch_channels, name=f"{name}_branch2_pw1")
    right = _dw_bn(right, stride, padding=padding, name=f"{name}_branch2_dw")
    right = _conv_bn(right, branch_channels, name=f"{name}_branch2_pw2")
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([left, right])
    return ChannelShuffle(2, name=f"{name}_shuffle")(x)


def ShuffleNetV2(
    width: Width,
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    name: str,
    padding: str = "same",
):
    """The generic ShuffleNet V2 builder; the registered variants pick a ``width`` and a ``padding`` ("same", or
    "torch" for torchvision's symmetric padding of the stride-2 convolutions and the stem's pooling)."""
    common.check_padding(padding)
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(224, 224, 3), min_size=32,
    )
    inputs = common.model_input(input_tensor, input_shape)
    torch_layout = padding == "torch"
    x = common.symmetric_padding(inputs, 3, name="stem_pad") if torch_layout else inputs
    x = keras.layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="valid" if torch_layout else "same", use_bias=False,
                            name="stem_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    if torch_layout:
        # Zeros instead of PyTorch's -inf padding: the same maximum after the ReLU.
        x = common.symmetric_padding(x, 3, name="stem_pool_pad")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="valid" if torch_layout else "same", name="stem_pool")(x)
    for s, (channels, repeats) in enumerate(zip(width.stages, REPEATS), start=2):
        for b in range(1, repeats + 1):
            x = shuffle_unit(x, channels, 2 if b == 1 else 1, padding=padding, name=f"stage{s}_block{b}")
    x = _conv_bn(x, width.top, name="top")
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


_TAPS = (FeatureTap("stem_relu", 2), FeatureTap("stem_pool", 4)) + tuple(
    FeatureTap(f"stage{s}_block{repeats}_shuffle", 2 ** (s + 1)) for s, repeats in enumerate(REPEATS, start=2)
)
_META = dict(family="shufflenetv2", paper=PAPER, year=2018, input_shape=(224, 224, 3), feature_taps=_TAPS,
             min_input_size=32)


@register_model(**_META, reported_top1=60.3, tags=("heavy",))
def ShuffleNetV2_x0_5(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="shufflenetv2_x0_5"):
    """ShuffleNet V2 0.5x (1.4M parameters, 41 MFLOPs; 60.3 % ImageNet top-1 in the paper)."""
    return ShuffleNetV2(WIDTHS["x0_5"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name)


@register_model(**_META, reported_top1=69.4)
def ShuffleNetV2_x1_0(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="shufflenetv2_x1_0"):
    """ShuffleNet V2 1.0x (2.3M parameters, 146 MFLOPs; 69.4 % ImageNet top-1 in the paper)."""
    return ShuffleNetV2(WIDTHS["x1_0"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name)


@register_model(**_META, reported_top1=72.6, tags=("heavy",))
def ShuffleNetV2_x1_5(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="shufflenetv2_x1_5"):
    """ShuffleNet V2 1.5x (3.5M parameters, 299 MFLOPs; 72.6 % ImageNet top-1 in the paper)."""
    return ShuffleNetV2(WIDTHS["x1_5"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name)


@register_model(**_META, reported_top1=74.9, tags=("heavy",))
def ShuffleNetV2_x2_0(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="shufflenetv2_x2_0"):
    """ShuffleNet V2 2.0x (7.4M parameters, 591 MFLOPs; 74.9 % ImageNet top-1 in the paper)."""
    return ShuffleNetV2(WIDTHS["x2_0"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name)


@register_model(**_META, reported_top1=60.3, tags=("heavy",), name="shufflenetv2_x0_5_tv")
def ShuffleNetV2_x0_5_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                         classes=1000, classifier_activation="softmax", name="shufflenetv2_x0_5_tv"):
    """ShuffleNet V2 0.5x in torchvision's layout (symmetric padding of the stride-2 layers), the variant
    torchvision's ``shufflenet_v2_x0_5`` weights load into."""
    return ShuffleNetV2(WIDTHS["x0_5"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name, padding="torch")


@register_model(**_META, reported_top1=69.4, name="shufflenetv2_x1_0_tv")
def ShuffleNetV2_x1_0_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                         classes=1000, classifier_activation="softmax", name="shufflenetv2_x1_0_tv"):
    """ShuffleNet V2 1.0x in torchvision's layout (symmetric padding of the stride-2 layers), the variant
    torchvision's ``shufflenet_v2_x1_0`` weights load into."""
    return ShuffleNetV2(WIDTHS["x1_0"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name, padding="torch")


@register_model(**_META, reported_top1=72.6, tags=("heavy",), name="shufflenetv2_x1_5_tv")
def ShuffleNetV2_x1_5_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                         classes=1000, classifier_activation="softmax", name="shufflenetv2_x1_5_tv"):
    """ShuffleNet V2 1.5x in torchvision's layout (symmetric padding of the stride-2 layers), the variant
    torchvision's ``shufflenet_v2_x1_5`` weights load into."""
    return ShuffleNetV2(WIDTHS["x1_5"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name, padding="torch")


@register_model(**_META, reported_top1=74.9, tags=("heavy",), name="shufflenetv2_x2_0_tv")
def ShuffleNetV2_x2_0_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                         classes=1000, classifier_activation="softmax", name="shufflenetv2_x2_0_tv"):
    """ShuffleNet V2 2.0x in torchvision's layout (symmetric padding of the stride-2 layers), the variant
    torchvision's ``shufflenet_v2_x2_0`` weights load into."""
    return ShuffleNetV2(WIDTHS["x2_0"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                        input_shape=input_shape, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, name=name, padding="torch")
