"""Network in Network (Lin, Chen and Yan, "Network In Network", 2013; ICLR 2014).

Each "mlpconv" layer is a spatial convolution followed by 1x1 convolutions (a small MLP shared over positions), every
one with a ReLU. The last mlpconv layer ends in a 1x1 convolution with one map per class, and global average
pooling of those maps replaces the fully-connected classifier (no dense layer at all).

- NiN_CIFAR: the paper's CIFAR-10 network as released by the authors (Caffe ``cifar10_nin``): mlpconv 192-160-96
  (5x5), max pool, dropout 0.5; mlpconv 192-192-192 (5x5), average pool, dropout 0.5; mlpconv 192-192-classes
  (3x3), global average pooling. 966,986 parameters with 10 classes. Caffe's ceil-mode 3x3/2 pools are "same"
  pools here (32 → 16 → 8, as in Caffe).
- NiN: the authors' ImageNet network (Caffe model zoo "NIN-Imagenet"; the paper gives no ImageNet details):
  mlpconv 96-96-96 (11x11/4), 256-256-256 (5x5), 384-384-384 (3x3), each followed by 3x3/2 max pooling, dropout
  0.5, mlpconv 1024-1024-classes (3x3), global average pooling. 7,595,176 parameters with 1000 classes. Pools are
  floor-mode ("valid"; 224 → 54 → 26 → 12 → 5), as in torchvision-style reimplementations; Caffe's ceil mode gives
  6x6 before the global pooling, which changes no parameter count.

The class maps keep the paper's ReLU before the global pooling, so class scores are non-negative.

Layer names: ``stage{S}_conv{i}``/``_relu{i}`` (i = 1 for the spatial convolution, 2, 3 for the 1x1 ones),
``stage{S}_pool``, ``stage{S}_dropout``; the head is ``head_conv``, ``head_relu``, ``avg_pool`` and ``predictions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model

PAPER = "Lin et al., Network In Network (2013)"


@dataclass(frozen=True)
class MlpConv:
    """One mlpconv layer: a ``kernel_size`` convolution with ``filters[0]`` maps, then 1x1 convolutions with the
    remaining ``filters``; then an optional 3x3 stride-2 ``pool`` ("max" or "avg") and dropout."""

    filters: tuple[int, ...]
    kernel_size: int
    strides: int = 1
    padding: str = "same"
    pool: str | None = None
    pool_padding: str = "valid"
    dropout: bool = False


# The last mlpconv of each table stops one 1x1 convolution short: the head adds the per-class one.
CIFAR_LAYERS = (
    MlpConv((192, 160, 96), 5, pool="max", pool_padding="same", dropout=True),
    MlpConv((192, 192, 192), 5, pool="avg", pool_padding="same", dropout=True),
    MlpConv((192, 192), 3),
)

IMAGENET_LAYERS = (
    MlpConv((96, 96, 96), 11, strides=4, padding="valid", pool="max"),
    MlpConv((256, 256, 256), 5, pool="max"),
    MlpConv((384, 384, 384), 3, pool="max", dropout=True),
    MlpConv((1024, 1024), 3),
)


def mlpconv(x, spec: MlpConv, *, dropout: float, name: str):
    for i, filters in enumerate(spec.filters, start=1):
        first = i == 1
        x = keras.layers.Conv2D(
            filters, spec.kernel_size if first else 1, strides=spec.strides if first else 1,
            padding=spec.padding if first else "valid", name=f"{name}_conv{i}",
        )(x)
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
    if spec.pool == "max":
        x = keras.layers.MaxPooling2D(3, strides=2, padding=spec.pool_padding, name=f"{name}_pool")(x)
    elif spec.pool == "avg":
        x = keras.layers.AveragePooling2D(3, strides=2, padding=spec.pool_padding, name=f"{name}_pool")(x)
    if spec.dropout and dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def NiNBase(
    layers: tuple[MlpConv, ...],
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
    dropout: float,
):
    """The generic Network-in-Network builder; the registered variants fix the mlpconv table."""
    dropout = common.check_dropout(dropout)
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=default_shape, min_size=min_size,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = inputs
    for s, spec in enumerate(layers, start=1):
        x = mlpconv(x, spec, dropout=dropout, name=f"stage{s}")
    if include_top:
        # The paper's classifier: one map per class, global average pooling, softmax.
        x = keras.layers.Conv2D(classes, 1, name="head_conv")(x)
        x = keras.layers.ReLU(name="head_relu")(x)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = common.classifier_head(
            x, include_top=False, pooling=pooling, classes=classes, classifier_activation=classifier_activation
        )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


_FAMILY = dict(family="nin", paper=PAPER, year=2013)


@register_model(
    **_FAMILY,
    input_shape=(224, 224, 3),
    # Valid 11x11/4 convolutions and floor-mode pools put the later maps at strides ~9, ~19, ~43.
    feature_taps=(FeatureTap("stage1_relu3", 4),),
    reported_top1=None,  # the paper reports no ImageNet result
    min_input_size=67,
)
def NiN(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
        classifier_activation="softmax", name="nin", dropout=0.5):
    """Network in Network for ImageNet (the authors' Caffe model-zoo network); 7,595,176 parameters (1000 classes).

    Family arguments:
        dropout: dropout rate after the third mlpconv layer (0.5 as released).
    """
    return NiNBase(
        IMAGENET_LAYERS, include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        name=name, default_shape=(224, 224, 3), min_size=67, dropout=dropout,
    )


@register_model(
    **_FAMILY,
    input_shape=(32, 32, 3),
    dataset="cifar10",
    feature_taps=(FeatureTap("stage2_relu3", 2), FeatureTap("stage3_relu2", 4)),
    reported_top1=91.19,  # 8.81 % CIFAR-10 test error, NIN + dropout + augmentation (table 1)
    min_input_size=8,
)
def NiN_CIFAR(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
              classifier_activation="softmax", name="nin_cifar", dropout=0.5):
    """Network in Network for CIFAR-10, the paper's three-mlpconv network; 966,986 parameters (10 classes).

    Family arguments:
        dropout: dropout rate after the first two mlpconv layers (paper: 0.5).
    """
    return NiNBase(
        CIFAR_LAYERS, include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        name=name, default_shape=(32, 32, 3), min_size=8, dropout=dropout,
    )
