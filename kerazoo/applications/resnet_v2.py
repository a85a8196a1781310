"""Pre-activation residual networks (He, Zhang, Ren and Sun, "Identity Mappings in Deep Residual Networks", 2016).

Every bottleneck block normalizes first: BN → ReLU → 1x1 conv → BN → ReLU → 3x3 conv → BN → ReLU → 1x1 conv, and
adds the result to an untouched shortcut, so the block outputs are sums that the next block's BN reads; one final
BN → ReLU (``post_bn``, ``post_relu``) precedes the head. The stem is the v1 stem without its BN and ReLU.

The layout follows keras.applications' ResNetV2 (TF-slim's ``resnet_v2``, which produced its ImageNet weights), so
ResNet50V2/101V2/152V2 equal ``keras.applications.ResNet50V2/101V2/152V2`` layer for layer (25,613,800 /
44,675,560 / 60,380,648 parameters): the first block of a stage projects its shortcut with a 1x1 conv (with bias)
from the pre-activation, and a stage's stride sits in its *last* block, whose shortcut is a 1x1 stride-s max-pool of
the block input; the last stage does not stride. The third 1x1 conv of each block and the stem conv have biases,
the others do not. Consequently the stride-4/8/16 feature taps are the outputs of the block *before* the last one of
stages 1-3, and the stride-32 tap is ``post_relu``.

Stem, stage table and ``conv_bn`` come from ``resnet.py``; ``drop_path_rate`` adds stochastic depth (linear decay
over blocks, identity at inference) as in every residual family.
"""

from __future__ import annotations

import keras

from kerazoo.applications import common
from kerazoo.applications.pretrained.labels import decode_predictions  # noqa: F401  (ImageNet classes)
from kerazoo.applications.pretrained.preprocess import preprocess_input_for
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.applications.resnet import IMAGENET_BLOCKS, KERNEL_INIT, Stage, conv_bn, imagenet_stem
from kerazoo.layers import DropPath, drop_path_rates

# For arrays fed to a model built without weights: what the pretrained models' ``preprocess`` layer does.
preprocess_input = preprocess_input_for(
    "tf", "keras.applications' ResNet50V2/101V2/152V2 weights ([-1, 1])"
)

PAPER = "He et al., Identity Mappings in Deep Residual Networks (2016)"


def v2_stages(blocks) -> tuple[Stage, ...]:
    """Base widths 64, 128, 256, 512; the stride (2, 2, 2, 1) applies to a stage's last block."""
    return tuple(Stage(64 * 2**i, n, 2 if i < len(blocks) - 1 else 1) for i, n in enumerate(blocks))


def preact_bottleneck_block(x, filters, stride, *, conv_shortcut: bool, drop_rate: float, name: str):
    """A pre-activation bottleneck with ``4 * filters`` outputs, named ``{name}_*`` like keras.applications'."""
    preact = keras.layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_preact_bn")(x)
    preact = keras.layers.ReLU(name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = keras.layers.Conv2D(
            4 * filters, 1, strides=stride, kernel_initializer=KERNEL_INIT, name=f"{name}_0_conv"
        )(preact)
    elif stride > 1:
        shortcut = keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    y = conv_bn(preact, filters, 1, 1, kernel_initializer=KERNEL_INIT, name=f"{name}_1")
    y = conv_bn(y, filters, 3, stride, padding="symmetric", kernel_initializer=KERNEL_INIT, name=f"{name}_2")
    y = keras.layers.Conv2D(4 * filters, 1, kernel_initializer=KERNEL_INIT, name=f"{name}_3_conv")(y)
    if drop_rate:
        y = DropPath(drop_rate, name=f"{name}_drop_path")(y)
    return keras.layers.Add(name=f"{name}_out")([shortcut, y])


def ResNetV2(
    stages: tuple[Stage, ...],
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
    """The generic pre-activation ResNet builder; the registered variants fix ``stages``."""
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(224, 224, 3), min_size=32,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = imagenet_stem(inputs, use_bias=True, preact=True)
    rates = iter(drop_path_rates(drop_path_rate, sum(s.blocks for s in stages)))
    for s, stage in enumerate(stages, start=1):
        for b in range(1, stage.blocks + 1):
            x = preact_bottleneck_block(
                x, stage.filters, stage.stride if b == stage.blocks else 1, conv_shortcut=b == 1,
                drop_rate=next(rates), name=f"stage{s}_block{b}",
            )
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name="post_bn")(x)
    x = keras.layers.ReLU(name="post_relu")(x)
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def v2_taps(stages: tuple[Stage, ...]) -> tuple[FeatureTap, ...]:
    """Stride 4, 8, 16: the block before each of stages 1-3's strided last block; stride 32: ``post_relu``."""
    return tuple(FeatureTap(f"stage{s}_block{stages[s - 1].blocks - 1}_out", 2 ** (s + 1)) for s in (1, 2, 3)) + (
        FeatureTap("post_relu", 32),
    )


V2_STAGES = {depth: v2_stages(IMAGENET_BLOCKS[depth]) for depth in (50, 101, 152)}

_META = dict(family="resnet_v2", paper=PAPER, year=2016, input_shape=(224, 224, 3), min_input_size=32)


@register_model(**_META, feature_taps=v2_taps(V2_STAGES[50]), tags=("heavy",))
def ResNet50V2(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
               classifier_activation="softmax", name="resnet50v2", drop_path_rate=0.0):
    """Pre-activation ResNet-50, equal to ``keras.applications.ResNet50V2`` (25.6M parameters).

    The paper reports no ImageNet top-1 for this depth.

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNetV2(V2_STAGES[50], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_META, feature_taps=v2_taps(V2_STAGES[101]), tags=("heavy",))
def ResNet101V2(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="resnet101v2", drop_path_rate=0.0):
    """Pre-activation ResNet-101, equal to ``keras.applications.ResNet101V2`` (44.7M parameters).

    The paper reports no ImageNet top-1 for this depth.

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNetV2(V2_STAGES[101], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_META, feature_taps=v2_taps(V2_STAGES[152]), reported_top1=78.9, tags=("heavy",))
def ResNet152V2(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="resnet152v2", drop_path_rate=0.0):
    """Pre-activation ResNet-152, equal to ``keras.applications.ResNet152V2`` (60.4M parameters).

    Reported top-1: 78.9 % (the paper's table 5: 21.1 % error, single 224 crop).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNetV2(V2_STAGES[152], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)
