"""VGG (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", 2015).

Five stages of 3x3 "same" convolutions (64, 128, 256, 512, 512 filters), each closed by 2x2 stride-2 max pooling,
then the fully-connected head 4096-4096-classes with dropout 0.5 after each hidden layer (the paper's; dropout has
no weights, so the counts equal keras.applications' VGG16/VGG19, which leave it out: 138,357,544 and 143,667,240
parameters at 224x224x3 with 1000 classes). Configurations A, B, D and E of the paper's table 1 are VGG11, VGG13,
VGG16 and VGG19 (the table below); A-LRN and C (1x1 convolutions) are not included.

The ``_BN`` variants put BatchNormalization between each convolution and its ReLU, as torchvision's ``vgg*_bn``
(which are not in the paper); like torchvision they keep the convolution bias, so their trainable parameters equal
torchvision's (e.g. 138,365,992 for VGG16_BN). Keras also counts BatchNormalization's moving mean and variance.

torchvision's VGG weights (``vgg*``/``vgg*_bn``, ``kerazoo.applications.pretrained.torch_vgg``) fit these builders
with ``adaptive_pool=7``: torchvision average-pools the last map to 7x7 (``AdaptiveAvgPool2d``; the identity at
224x224, so the parameters are the same) before its head, which then takes any input size. Its first FC layer reads
the map flattened channels-first; the converter permutes that kernel's rows for Keras' channels-last flatten.

Layer names: ``stage{S}_block{B}_conv``/``_bn``/``_relu``, ``stage{S}_pool``, then [``head_adaptive_pool``],
``head_flatten``, ``head_fc{i}``, ``head_dropout{i}`` and ``predictions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.pretrained.labels import decode_predictions  # noqa: F401  (ImageNet classes)
from kerazoo.applications.pretrained.preprocess import preprocess_input_for
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.layers import AdaptiveAveragePooling2D

# For arrays fed to a model built without weights: what the pretrained models' ``preprocess`` layer does.
preprocess_input = preprocess_input_for(
    "caffe", "keras.applications' VGG16/19 weights (BGR, minus the ImageNet mean)"
)

PAPER = "Simonyan and Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition (2015)"


@dataclass(frozen=True)
class Stage:
    """``convs`` 3x3 convolutions with ``filters`` filters, then 2x2 max pooling."""

    filters: int
    convs: int


# The paper's table 1, configurations A (11 weight layers), B (13), D (16) and E (19).
STAGES = {
    11: (Stage(64, 1), Stage(128, 1), Stage(256, 2), Stage(512, 2), Stage(512, 2)),
    13: (Stage(64, 2), Stage(128, 2), Stage(256, 2), Stage(512, 2), Stage(512, 2)),
    16: (Stage(64, 2), Stage(128, 2), Stage(256, 3), Stage(512, 3), Stage(512, 3)),
    19: (Stage(64, 2), Stage(128, 2), Stage(256, 4), Stage(512, 4), Stage(512, 4)),
}


def conv_block(x, filters: int, *, batch_norm: bool, name: str):
    """3x3 "same" convolution (with bias) → [BatchNormalization] → ReLU."""
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def check_adaptive_pool(adaptive_pool):
    if adaptive_pool is not None and (
        not isinstance(adaptive_pool, int) or isinstance(adaptive_pool, bool) or adaptive_pool < 1
    ):
        raise ValueError(
            f"Invalid adaptive_pool: expected None or a positive map side (7 for torchvision's weights). "
            f"Received: adaptive_pool={adaptive_pool!r}"
        )


def VGG(
    depth: int,
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    name: str,
    batch_norm: bool,
    dropout: float,
    adaptive_pool: int | None,
):
    """The generic VGG builder; the registered variants fix ``depth`` (11, 13, 16, 19) and ``batch_norm``."""
    stages = STAGES[depth]
    dropout = common.check_dropout(dropout)
    check_adaptive_pool(adaptive_pool)
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(224, 224, 3), min_size=32,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = inputs
    for s, stage in enumerate(stages, start=1):
        for b in range(1, stage.convs + 1):
            x = conv_block(x, stage.filters, batch_norm=batch_norm, name=f"stage{s}_block{b}")
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"stage{s}_pool")(x)
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


_TAPS = tuple(FeatureTap(f"stage{s}_pool", 2**s) for s in range(1, 6))
_META = dict(family="vgg", paper=PAPER, year=2015, input_shape=(224, 224, 3), feature_taps=_TAPS,
             min_input_size=32, tags=("heavy",))


# reported_top1: the paper's table 3, single-scale evaluation, trained and tested at S = Q = 256.
@register_model(**_META, reported_top1=70.4)
def VGG11(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg11", dropout=0.5,
          adaptive_pool=None):
    """VGG-11, configuration A (8 conv + 3 FC layers); 132,863,336 parameters (224x224, 1000 classes).

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(11, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=False, dropout=dropout, adaptive_pool=adaptive_pool)


@register_model(**_META, reported_top1=71.3)
def VGG13(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg13", dropout=0.5,
          adaptive_pool=None):
    """VGG-13, configuration B (10 conv + 3 FC layers); 133,047,848 parameters (224x224, 1000 classes).

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(13, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=False, dropout=dropout, adaptive_pool=adaptive_pool)


@register_model(**_META, reported_top1=73.0)
def VGG16(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16", dropout=0.5,
          adaptive_pool=None):
    """VGG-16, configuration D (13 conv + 3 FC layers); 138,357,544 parameters, as keras.applications.VGG16.

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(16, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=False, dropout=dropout, adaptive_pool=adaptive_pool)


@register_model(**_META, reported_top1=72.7)
def VGG19(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19", dropout=0.5,
          adaptive_pool=None):
    """VGG-19, configuration E (16 conv + 3 FC layers); 143,667,240 parameters, as keras.applications.VGG19.

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(19, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=False, dropout=dropout, adaptive_pool=adaptive_pool)


@register_model(**_META)
def VGG11_BN(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="vgg11_bn", dropout=0.5,
             adaptive_pool=None):
    """VGG-11 with batch normalization (torchvision's vgg11_bn); 132,868,840 trainable parameters.

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(11, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=True, dropout=dropout, adaptive_pool=adaptive_pool)


@register_model(**_META)
def VGG13_BN(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="vgg13_bn", dropout=0.5,
             adaptive_pool=None):
    """VGG-13 with batch normalization (torchvision's vgg13_bn); 133,053,736 trainable parameters.

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(13, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=True, dropout=dropout, adaptive_pool=adaptive_pool)


@register_model(**_META)
def VGG16_BN(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="vgg16_bn", dropout=0.5,
             adaptive_pool=None):
    """VGG-16 with batch normalization (torchvision's vgg16_bn); 138,365,992 trainable parameters.

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(16, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=True, dropout=dropout, adaptive_pool=adaptive_pool)


@register_model(**_META)
def VGG19_BN(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="vgg19_bn", dropout=0.5,
             adaptive_pool=None):
    """VGG-19 with batch normalization (torchvision's vgg19_bn); 143,678,248 trainable parameters.

    Family arguments:
        dropout: dropout rate after each of the two 4096-unit layers (paper: 0.5; keras.applications uses none).
        adaptive_pool: average-pool the last map to this side before the head (torchvision's 7; the identity at
            224x224), so the head takes any input size; None (default) flattens the map as it is.
    """
    return VGG(19, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
               pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
               batch_norm=True, dropout=dropout, adaptive_pool=adaptive_pool)

