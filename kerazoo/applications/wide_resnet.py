"""Wide residual networks (Zagoruyko and Komodakis, "Wide Residual Networks", BMVC 2016), CIFAR-style WRN-d-k.

A 3x3 conv with 16 filters, three stages of N = (d - 4) / 6 pre-activation basic blocks with 16k, 32k and 64k
filters at strides 1, 2, 2, then BN → ReLU → global average pooling → Dense. A block is BN → ReLU → 3x3 conv →
BN → ReLU → [dropout] → 3x3 conv, added to the shortcut; where the shape changes the shortcut is a 1x1 conv of the
block's pre-activation (as in the authors' code), elsewhere the identity. Convolutions have no biases, so WRN-28-10
has 36,479,194 parameters with 10 classes (36.5M in the paper's table), WRN-16-8 10,961,370 (11.0M), WRN-40-4
8,949,210 (8.9M) and WRN-16-4 2,748,890 (2.7M). ``count_params()`` also counts BatchNorm's moving statistics; the
numbers here are trainable parameters, as the paper counts them.

The ImageNet wide ResNets WRN-50-2 and WRN-101-2 (the paper's "WRN-50-2-bottleneck", section 4.3; torchvision's
``wide_resnet50_2``/``wide_resnet101_2``, also timm's) are a different network: ResNet-50/101 bottlenecks with twice
the inner width (the 3x3 conv has 128, 256, 512, 1024 channels; outputs as ResNet's) and torchvision's layout (the
stride on the 3x3 conv, bias-free convolutions). They are specs of the ImageNet ResNet builder
(``resnet.ResNet``, ``width_per_group=128``): 68,883,240 and 126,886,696 trainable parameters, as torchvision.

Family knobs: ``dropout_rate`` is the paper's dropout between the two convs of every block (0.3 in its "-dropout"
runs, 0 by default); ``drop_path_rate`` adds stochastic depth (linear decay over blocks, identity at inference).
"""

from __future__ import annotations

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.applications.resnet import (
    IMAGENET_BLOCKS,
    ResNet,
    ResNetSpec,
    Stage,
    conv_bn,
    imagenet_stages,
    imagenet_taps,
)
from kerazoo.layers import DropPath, drop_path_rates

PAPER = "Zagoruyko and Komodakis, Wide Residual Networks (2016)"


def wrn_stages(depth: int, width: int) -> tuple[Stage, ...]:
    """WRN-``depth``-``width``: three stages of (depth - 4) / 6 blocks with 16k, 32k, 64k filters."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"Invalid depth: WRNs have depth 6N + 4 (10, 16, 22, 28, 40, ...). Received: depth={depth}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"Invalid width: expected a positive integer widening factor. Received: width={width!r}")
    n = (depth - 4) // 6
    return (Stage(16 * width, n, 1), Stage(32 * width, n, 2), Stage(64 * width, n, 2))


def wide_block(x, filters, stride, *, dropout_rate: float, drop_rate: float, name: str):
    """A pre-activation basic block with ``filters`` outputs, named ``{name}_*``."""
    preact = keras.layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_preact_bn")(x)
    preact = keras.layers.ReLU(name=f"{name}_preact_relu")(preact)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, kernel_initializer="he_normal", name=f"{name}_0_conv"
        )(preact)
    y = conv_bn(preact, filters, 3, stride, padding="symmetric", name=f"{name}_1")
    if dropout_rate:
        y = keras.layers.Dropout(dropout_rate, name=f"{name}_dropout")(y)
    y = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal", name=f"{name}_2_conv"
    )(y)
    if drop_rate:
        y = DropPath(drop_rate, name=f"{name}_drop_path")(y)
    return keras.layers.Add(name=f"{name}_out")([shortcut, y])


def WideResNet(
    depth: int,
    width: int,
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    name: str,
    dropout_rate: float,
    drop_path_rate: float,
):
    """The generic WRN-d-k builder; the registered variants fix ``depth`` and ``width``."""
    stages = wrn_stages(depth, width)
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(
            f"Invalid dropout_rate: expected a probability in [0, 1). Received: dropout_rate={dropout_rate!r}"
        )
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(32, 32, 3), min_size=8,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, kernel_initializer="he_normal", name="stem_conv")(
        inputs
    )
    rates = iter(drop_path_rates(drop_path_rate, sum(s.blocks for s in stages)))
    for s, stage in enumerate(stages, start=1):
        for b in range(1, stage.blocks + 1):
            x = wide_block(
                x, stage.filters, stage.stride if b == 1 else 1, dropout_rate=dropout_rate, drop_rate=next(rates),
                name=f"stage{s}_block{b}",
            )
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name="post_bn")(x)
    x = keras.layers.ReLU(name="post_relu")(x)
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def wrn_taps(depth: int) -> tuple[FeatureTap, ...]:
    """Stage 1 and 2 block outputs (strides 1, 2) and the final ``post_relu`` (stride 4)."""
    n = (depth - 4) // 6
    return (FeatureTap(f"stage1_block{n}_out", 1), FeatureTap(f"stage2_block{n}_out", 2), FeatureTap("post_relu", 4))


_META = dict(family="wide_resnet", paper=PAPER, year=2016, input_shape=(32, 32, 3), dataset="cifar10", min_input_size=8)

@register_model(**_META, feature_taps=wrn_taps(28), reported_top1=96.00, tags=("heavy",))
def WRN28_10(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="wrn28_10", dropout_rate=0.0, drop_path_rate=0.0):
    """WRN-28-10 (36.5M parameters; 4.00 % CIFAR-10 error with mean/std preprocessing, 3.89 % with dropout).

    Family arguments:
        dropout_rate: dropout between the two convs of every block (the paper's "-dropout" runs use 0.3).
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return WideResNet(28, 10, include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                      drop_path_rate=drop_path_rate)


@register_model(**_META, feature_taps=wrn_taps(16), reported_top1=95.73)
def WRN16_8(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
            classifier_activation="softmax", name="wrn16_8", dropout_rate=0.0, drop_path_rate=0.0):
    """WRN-16-8 (11.0M parameters; 4.27 % CIFAR-10 error with mean/std preprocessing).

    Family arguments:
        dropout_rate: dropout between the two convs of every block (the paper's "-dropout" runs use 0.3).
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return WideResNet(16, 8, include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                      drop_path_rate=drop_path_rate)


@register_model(**_META, feature_taps=wrn_taps(40), reported_top1=95.47)
def WRN40_4(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
            classifier_activation="softmax", name="wrn40_4", dropout_rate=0.0, drop_path_rate=0.0):
    """WRN-40-4 (8.9M parameters; 4.53 % CIFAR-10 error with mean/std preprocessing).

    Family arguments:
        dropout_rate: dropout between the two convs of every block (the paper's "-dropout" runs use 0.3).
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return WideResNet(40, 4, include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                      drop_path_rate=drop_path_rate)


@register_model(**_META, feature_taps=wrn_taps(16))
def WRN16_4(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
            classifier_activation="softmax", name="wrn16_4", dropout_rate=0.0, drop_path_rate=0.0):
    """WRN-16-4 (2.7M parameters), the paper's small network for its dropout and SVHN experiments.

    Family arguments:
        dropout_rate: dropout between the two convs of every block (the paper's "-dropout" runs use 0.3).
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return WideResNet(16, 4, include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate,
                      drop_path_rate=drop_path_rate)


# ImageNet WRN-50-2 / WRN-101-2: bottlenecks of twice ResNet's inner width, torchvision's layout.
IMAGENET_WIDE_SPECS = {
    depth: ResNetSpec(imagenet_stages(IMAGENET_BLOCKS[depth]), width_per_group=128, stride_in_3x3=True)
    for depth in (50, 101)
}

_IMAGENET_META = dict(family="wide_resnet", paper=PAPER, year=2016, input_shape=(224, 224, 3), min_input_size=32,
                      tags=("heavy",))


# reported_top1: WRN-50-2-bottleneck, 21.9 % top-1 error in the paper's ImageNet table (single 224 crop).
@register_model(**_IMAGENET_META, name="wide_resnet50_2", feature_taps=imagenet_taps(IMAGENET_WIDE_SPECS[50]),
                reported_top1=78.1)
def WideResNet50_2(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="wide_resnet50_2", drop_path_rate=0.0):
    """ImageNet WRN-50-2 (torchvision's ``wide_resnet50_2``): ResNet-50 with 2x wider bottlenecks; 68.9M parameters.

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(IMAGENET_WIDE_SPECS[50], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_IMAGENET_META, name="wide_resnet101_2", feature_taps=imagenet_taps(IMAGENET_WIDE_SPECS[101]))
def WideResNet101_2(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name="wide_resnet101_2", drop_path_rate=0.0):
    """ImageNet WRN-101-2 (torchvision's ``wide_resnet101_2``): ResNet-101 with 2x wider bottlenecks; 126.9M
    parameters; not in the paper's tables.

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(IMAGENET_WIDE_SPECS[101], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)
