"""Residual networks (He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", 2016).

CIFAR ResNets (section 4.2): a 3x3 conv with 16 filters, then three stages of n basic blocks with 16, 32 and 64
filters at strides 1, 2, 2, global average pooling and a Dense classifier; depth = 6n + 2. Shortcuts are the paper's
option A (identity, subsampled, zero-padded channels: no parameters), so ResNet-20/32/44/56/110 have 0.27M, 0.46M,
0.66M, 0.85M and 1.7M parameters as in the paper's table 6.

Every residual family takes ``drop_path_rate`` (stochastic depth, Huang et al. 2016): the drop probability grows
linearly over blocks up to ``drop_path_rate``; at inference the blocks are the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.layers import DropPath, ZeroPadShortcut, drop_path_rates

PAPER = "He et al., Deep Residual Learning for Image Recognition (2016)"


@dataclass(frozen=True)
class Stage:
    """One stage: ``blocks`` residual blocks with ``filters`` output channels, the first with ``stride``."""

    filters: int
    blocks: int
    stride: int


def cifar_stages(depth: int) -> tuple[Stage, ...]:
    if (depth - 2) % 6:
        raise ValueError(f"Invalid depth: CIFAR ResNets have depth 6n + 2 (20, 32, 44, 56, 110). Received: depth={depth}")
    n = (depth - 2) // 6
    return (Stage(16, n, 1), Stage(32, n, 2), Stage(64, n, 2))


def conv_bn(x, filters, kernel_size, stride, *, name, activation=True):
    """Conv (no bias) → BatchNorm → optional ReLU, named ``{name}_conv``, ``{name}_bn``, ``{name}_relu``."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=stride, padding="same", use_bias=False,
        kernel_initializer="he_normal", name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def basic_block_a(x, filters, stride, *, drop_rate, name):
    """Two 3x3 conv-BN layers and an option-A (parameter-free) shortcut."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = ZeroPadShortcut(filters, stride, name=f"{name}_shortcut")(x)
    x = conv_bn(x, filters, 3, stride, name=f"{name}_1")
    x = conv_bn(x, filters, 3, 1, name=f"{name}_2", activation=False)
    if drop_rate:
        x = DropPath(drop_rate, name=f"{name}_drop_path")(x)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def CifarResNet(
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
    drop_path_rate: float,
):
    """The generic CIFAR ResNet builder; the registered variants fix ``depth``."""
    stages = cifar_stages(depth)
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(32, 32, 3), min_size=8,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = conv_bn(inputs, 16, 3, 1, name="stem")
    rates = iter(drop_path_rates(drop_path_rate, sum(s.blocks for s in stages)))
    for s, stage in enumerate(stages, start=1):
        for b in range(1, stage.blocks + 1):
            x = basic_block_a(
                x, stage.filters, stage.stride if b == 1 else 1, drop_rate=next(rates), name=f"stage{s}_block{b}"
            )
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def _cifar_taps(depth: int) -> tuple[FeatureTap, ...]:
    n = (depth - 2) // 6
    return tuple(FeatureTap(f"stage{s}_block{n}_out", 2 ** (s - 1)) for s in (1, 2, 3))


_CIFAR_META = dict(family="resnet_cifar", paper=PAPER, year=2016, input_shape=(32, 32, 3), dataset="cifar10", min_input_size=8)


@register_model(**_CIFAR_META, feature_taps=_cifar_taps(20), reported_top1=91.25)
def ResNet20(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet20", drop_path_rate=0.0):
    """CIFAR ResNet-20 (0.27M parameters; 8.75 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(20, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=_cifar_taps(32), reported_top1=92.49)
def ResNet32(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet32", drop_path_rate=0.0):
    """CIFAR ResNet-32 (0.46M parameters; 7.51 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(32, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=_cifar_taps(44), reported_top1=92.83)
def ResNet44(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet44", drop_path_rate=0.0):
    """CIFAR ResNet-44 (0.66M parameters; 7.17 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(44, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=_cifar_taps(56), reported_top1=93.03)
def ResNet56(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet56", drop_path_rate=0.0):
    """CIFAR ResNet-56 (0.85M parameters; 6.97 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(56, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=_cifar_taps(110), reported_top1=93.57, tags=("heavy",))
def ResNet110(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
              classifier_activation="softmax", name="resnet110", drop_path_rate=0.0):
    """CIFAR ResNet-110 (1.7M parameters; 6.43 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(110, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)
