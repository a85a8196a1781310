"""AlexNet (Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep Convolutional Neural Networks", 2012)
and ZFNet (Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", 2013/2014).

Both are five convolutions (ReLU, local response normalization after the first two, 3x3 stride-2 overlapping max
pooling after conv1, conv2 and conv5) followed by the fully-connected head 4096-4096-classes with dropout 0.5 after
each hidden layer. They differ only in the convolution table below, which the one generic builder loops over:

- AlexNet: the paper's two-tower network. Conv2, conv4 and conv5 only see the half of the previous layer's channels
  that lives on the same GPU, which is a grouped convolution with ``groups=2`` (``GroupedConv2D``); conv3 and the
  dense layers connect both towers. Input 227x227 (the paper says 224, but 11x11 stride-4 valid convolutions need
  227 to give its 55x55 maps), 96-256-384-384-256 filters: 60,965,224 parameters with 1000 classes, the paper's "60 million" (and
  Caffe's ``bvlc_alexnet``). This is *not* torchvision's single-tower 64-192-384-256-256 variant (61,100,840).
- ZFNet: AlexNet with a 7x7 stride-2 conv1 (padding 1), a 5x5 stride-2 conv2 and dense (ungrouped) conv3-5, as in the
  paper's figure 3 (96-256-384-384-256 filters; 224 → 110 → 55 → 26 → 13 → 13 → 13 → 6). The paper's Caffe-style
  ceil-mode pooling (110 → 55, 26 → 13) is reproduced by one row of zeros at the bottom and right before pools 1
  and 2 (exact for non-negative post-ReLU maps). 62,357,608 parameters with 1000 classes.

- AlexNet_TV (``alexnet_tv``): torchvision's single-tower ``alexnet`` ("One weird trick", Krizhevsky 2014): 11x11
  stride-4 conv1 padded by 2, 64-192-384-256-256 filters, dense (ungrouped) convolutions, no LRN, then torchvision's
  ``AdaptiveAvgPool2d((6, 6))`` (the identity at 224x224; the head then takes any input size): 61,100,840
  parameters, torchvision's count, and its weights load unchanged (``kerazoo.applications.pretrained.torch_vgg``;
  the first FC kernel is permuted for Keras' channels-last flatten). Only the dropout sits differently: torchvision
  drops before each hidden FC layer, kerazoo after (the same at inference).

Layer names: ``stage{S}_conv``/``_relu``/``_lrn``/``_pool`` for conv layer S (1-5), then [``head_adaptive_pool``],
``head_flatten``, ``head_fc{i}``, ``head_dropout{i}`` and ``predictions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.layers import AdaptiveAveragePooling2D, GroupedConv2D, LocalResponseNormalization

ALEXNET_PAPER = "Krizhevsky et al., ImageNet Classification with Deep Convolutional Neural Networks (2012)"
ZFNET_PAPER = "Zeiler and Fergus, Visualizing and Understanding Convolutional Networks (2014)"


@dataclass(frozen=True)
class ConvLayer:
    """One convolution of the table: conv → ReLU → [LRN] → [3x3 stride-2 max pool].

    ``padding`` is "same", "valid" or a number of zero rows/columns added on every side. ``pool_padding`` adds that
    many zero rows/columns at the bottom and right before the pool (Caffe's ceil-mode pooling at the paper's size).
    """

    filters: int
    kernel_size: int
    strides: int = 1
    padding: str | int = "same"
    groups: int = 1
    lrn: bool = False
    pool: bool = False
    pool_padding: int = 0


ALEXNET_LAYERS = (
    ConvLayer(96, 11, strides=4, padding="valid", lrn=True, pool=True),
    ConvLayer(256, 5, groups=2, lrn=True, pool=True),
    ConvLayer(384, 3),
    ConvLayer(384, 3, groups=2),
    ConvLayer(256, 3, groups=2, pool=True),
)

TORCHVISION_LAYERS = (
    ConvLayer(64, 11, strides=4, padding=2, pool=True),
    ConvLayer(192, 5, pool=True),
    ConvLayer(384, 3),
    ConvLayer(256, 3),
    ConvLayer(256, 3, pool=True),
)

ZFNET_LAYERS = (
    ConvLayer(96, 7, strides=2, padding=1, lrn=True, pool=True, pool_padding=1),
    ConvLayer(256, 5, strides=2, padding="valid", lrn=True, pool=True, pool_padding=1),
    ConvLayer(384, 3),
    ConvLayer(384, 3),
    ConvLayer(256, 3, pool=True),
)


def conv_layer(x, spec: ConvLayer, *, local_response_norm: bool, name: str):
    """One row of the table, named ``{name}_pad``, ``_conv``, ``_relu``, ``_lrn``, ``_pool_pad``, ``_pool``."""
    padding = spec.padding
    if isinstance(padding, int):
        if padding:
            x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        padding = "valid"
    conv = GroupedConv2D if spec.groups > 1 else keras.layers.Conv2D  # same weights, fast grouped kernel on TF CPU
    x = conv(
        spec.filters, spec.kernel_size, strides=spec.strides, padding=padding, groups=spec.groups, name=f"{name}_conv"
    )(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    if spec.lrn and local_response_norm:
        x = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, name=f"{name}_lrn")(x)
    if spec.pool:
        if spec.pool_padding:
            x = keras.layers.ZeroPadding2D(((0, spec.pool_padding), (0, spec.pool_padding)), name=f"{name}_pool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return x


def AlexNetBase(
    layers: tuple[ConvLayer, ...],
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    name: str,
    default_shape: tuple,
    min_size: int,
    local_response_norm: bool,
    dropout: float,
    adaptive_pool: int | None = None,
):
    """The generic AlexNet/ZFNet builder; the registered variants fix the convolution table (and torchvision's
    ``adaptive_pool`` side before the head)."""
    dropout = common.check_dropout(dropout)
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=default_shape, min_size=min_size,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = inputs
    for s, spec in enumerate(layers, start=1):
        x = conv_layer(x, spec, local_response_norm=local_response_norm, name=f"stage{s}")
    if include_top:
        if adaptive_pool:
            x = AdaptiveAveragePooling2D(adaptive_pool, name="head_adaptive_pool")(x)
        x = common.fully_connected_head(
            x, dropout=dropout, classes=classes, classifier_activation=classifier_activation
        )
    else:
        x = common.classifier_head(
            x, include_top=False, pooling=pooling, classes=classes, classifier_activation=classifier_activation
        )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


# Smallest sides that still leave a 1x1 map after the last pool (valid convolutions and pools throughout).
_ALEXNET_MIN = 67
_ZFNET_MIN = 63
_TORCHVISION_MIN = 63


@register_model(
    family="alexnet",
    paper=ALEXNET_PAPER,
    year=2012,
    input_shape=(227, 227, 3),
    # Valid 11x11/4 convolutions and floor-mode 3x3/2 pools put the later maps at strides ~9, ~18, ~36 rather
    # than 8, 16, 32, so only conv1's stride-4 map is offered.
    feature_taps=(FeatureTap("stage1_relu", 4),),
    reported_top1=59.3,  # 40.7 % top-1 error, one CNN, ILSVRC-2012 validation (table 2)
    min_input_size=_ALEXNET_MIN,
    tags=("heavy",),
)
def AlexNet(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
            classifier_activation="softmax", name="alexnet", local_response_norm=True, dropout=0.5):
    """AlexNet as in the paper: two towers (grouped conv2/4/5), 227x227 input, 60,965,224 parameters (1000 classes).

    Family arguments:
        local_response_norm: apply local response normalization (n=5, k=2, alpha=1e-4, beta=0.75) after the ReLU
            of conv1 and conv2, as in the paper (default True). It has no weights.
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5).
    """
    return AlexNetBase(
        ALEXNET_LAYERS, include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        name=name, default_shape=(227, 227, 3), min_size=_ALEXNET_MIN, local_response_norm=local_response_norm,
        dropout=dropout,
    )


@register_model(
    family="alexnet",
    paper=ZFNET_PAPER,
    year=2013,
    input_shape=(224, 224, 3),
    # conv2's valid 5x5/2 convolution puts the later maps at strides ~9, ~18, ~37; only strides 2 and 4 are exact.
    feature_taps=(FeatureTap("stage1_relu", 2), FeatureTap("stage1_pool", 4)),
    reported_top1=61.6,  # 38.4 % top-1 error, one convnet as per figure 3, ILSVRC-2012 validation (table 2)
    min_input_size=_ZFNET_MIN,
    tags=("heavy",),
)
def ZFNet(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="zfnet", local_response_norm=True, dropout=0.5):
    """ZFNet (figure 3 of the paper): 7x7/2 conv1, 5x5/2 conv2, dense conv3-5; 62,357,608 parameters (1000 classes).

    Family arguments:
        local_response_norm: apply local response normalization (AlexNet's n=5, k=2, alpha=1e-4, beta=0.75) after
            the ReLU of conv1 and conv2, the paper's "contrast normalization" (default True). It has no weights.
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5).
    """
    return AlexNetBase(
        ZFNET_LAYERS, include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        name=name, default_shape=(224, 224, 3), min_size=_ZFNET_MIN, local_response_norm=local_response_norm,
        dropout=dropout,
    )


@register_model(
    family="alexnet",
    paper=ALEXNET_PAPER,
    year=2012,
    input_shape=(224, 224, 3),
    # conv1 (11x11/4, padded by 2) is at stride 4; the floor-mode pools after it drift off 8, 16 and 32.
    feature_taps=(FeatureTap("stage1_relu", 4),),
    min_input_size=_TORCHVISION_MIN,
    tags=("heavy",),
    name="alexnet_tv",
)
def AlexNet_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
               classifier_activation="softmax", name="alexnet_tv", dropout=0.5):
    """torchvision's single-tower AlexNet: 64-192-384-256-256 filters, no LRN, 6x6 adaptive average pooling before
    the head; 61,100,840 parameters (224x224, 1000 classes). torchvision reports 56.52 % top-1 for its weights.

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (0.5, as torchvision's).
    """
    return AlexNetBase(
        TORCHVISION_LAYERS, include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        name=name, default_shape=(224, 224, 3), min_size=_TORCHVISION_MIN, local_response_norm=False,
        dropout=dropout, adaptive_pool=6,
    )
