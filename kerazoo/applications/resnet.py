"""Residual networks (He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", 2016).

CIFAR ResNets (section 4.2): a 3x3 conv with 16 filters, then three stages of n basic blocks with 16, 32 and 64
filters at strides 1, 2, 2, global average pooling and a Dense classifier; depth = 6n + 2. Shortcuts are the paper's
option A (identity, subsampled, zero-padded channels: no parameters), so ResNet-20/32/44/56/110 have 0.27M, 0.46M,
0.66M, 0.85M and 1.7M parameters as in the paper's table 6.

ImageNet ResNets (section 4.1, table 1): a 7x7/2 conv and a 3x3/2 max-pool stem, four stages at strides 4, 8, 16,
32 with 64, 128, 256, 512 (x4 for bottlenecks) channels, global average pooling and a 1000-way Dense. ResNet-18/34
stack basic blocks (two 3x3 convs), ResNet-50/101/152 bottleneck blocks (1x1 → 3x3 → 1x1 with 4x expansion). The
shortcut is the identity except where the shape changes, where it is a 1x1 conv + BN projection (the paper's
option B). Like keras.applications' v1 (whose converted Caffe weights carry them), the convolutions have biases by
default and the bottleneck's stride sits on its first 1x1 conv, so ResNet50/101/152 equal
``keras.applications.ResNet50/101/152`` layer for layer (25,636,712 / 44,707,176 / 60,419,944 parameters).
``conv_bias=False`` gives the paper's bias-free convolutions: then the trainable parameters equal torchvision's
counts (ResNet-18/34/50/101/152: 11,689,512 / 21,797,672 / 25,557,032 / 44,549,160 / 60,192,808); the conv biases
add 4,800 / 8,512 / 26,560 / 52,672 / 75,712 of them. (``count_params()`` also counts BatchNorm's moving mean and
variance, which torchvision keeps as buffers: 2 per BN channel, e.g. 53,120 in ResNet-50.) Strided 3x3 convs pad one
pixel on every side (Caffe and PyTorch), not Keras' "same" (which pads only bottom and right), so weights port from
those frameworks unchanged.

torchvision's and timm's ResNet-50/101/152 are "v1.5": bias-free convolutions and each bottleneck's stride on its 3x3
conv (``ResNetSpec.stride_in_3x3``). They are registered as ``resnet50_tv``/``resnet101_tv``/``resnet152_tv`` and
take those sources' state dicts unchanged (``kerazoo.applications.pretrained.torch_resnet``); their ResNet-18/34 are
``resnet18``/``resnet34`` with ``conv_bias=False``. The only numerical difference left is BatchNorm's epsilon
(1.001e-5 here, as keras.applications; 1e-5 in PyTorch), far below the converters' parity tolerance.

The generic ImageNet builder ``ResNet(spec, ...)`` takes a ``ResNetSpec`` (stages, block type, cardinality,
stride placement, squeeze-and-excitation ratio); ResNeXt (``resnext.py``) and SE-ResNet (``senet.py``) are specs of
the same builder, and the pre-activation ResNet (``resnet_v2.py``) reuses its stem, stage table and ``conv_bn``.

Every residual family takes ``drop_path_rate`` (stochastic depth, Huang et al. 2016): the drop probability grows
linearly over blocks up to ``drop_path_rate``; at inference the blocks are the identity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import keras

from kerazoo.applications import common
from kerazoo.applications.pretrained.labels import decode_predictions  # noqa: F401  (ImageNet classes)
from kerazoo.applications.pretrained.preprocess import preprocess_input_for
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.layers import DropPath, GroupedConv2D, ZeroPadShortcut, drop_path_rates, squeeze_excite

# For arrays fed to a model built without weights: what the pretrained models' ``preprocess`` layer does.
preprocess_input = preprocess_input_for(
    "caffe", "keras.applications' ResNet50/101/152 weights (BGR, minus the ImageNet mean)"
)

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


def conv_bn(x, filters, kernel_size, stride, *, name, activation=True, use_bias=False, groups=1, padding="same",
            kernel_initializer="he_normal"):
    """Conv → BatchNorm → optional ReLU, named ``{name}_conv``, ``{name}_bn``, ``{name}_relu``.

    ``padding="same"`` is Keras' (a strided conv pads bottom/right only); ``"symmetric"`` pads ``kernel_size // 2``
    on every side (``{name}_pad``) before a strided conv, as Caffe and PyTorch do. ``groups`` > 1 is a grouped conv
    (``GroupedConv2D``: Conv2D's weights and outputs, TensorFlow's direct grouped kernel).
    """
    if padding not in ("same", "symmetric"):
        raise ValueError(f'Invalid padding: expected "same" or "symmetric". Received: padding={padding!r}')
    conv_padding = "same"
    if padding == "symmetric" and stride > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        conv_padding = "valid"
    conv = GroupedConv2D if groups > 1 else keras.layers.Conv2D  # Keras' grouped Conv2D is ~300x slower on TF CPU
    x = conv(
        filters, kernel_size, strides=stride, padding=conv_padding, use_bias=use_bias, groups=groups,
        kernel_initializer=kernel_initializer, name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def basic_block_a(x, filters, stride, *, drop_rate, name, se_ratio=0):
    """Two 3x3 conv-BN layers and an option-A (parameter-free) shortcut; optional squeeze-and-excitation."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = ZeroPadShortcut(filters, stride, name=f"{name}_shortcut")(x)
    x = conv_bn(x, filters, 3, stride, name=f"{name}_1")
    x = conv_bn(x, filters, 3, 1, name=f"{name}_2", activation=False)
    if se_ratio:
        x = squeeze_excite(x, se_ratio, name=f"{name}_se")
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
    se_ratio: int = 0,
):
    """The generic CIFAR ResNet builder; the registered variants fix ``depth`` (SE-ResNet-20 also ``se_ratio``)."""
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
                x, stage.filters, stage.stride if b == 1 else 1, drop_rate=next(rates), name=f"stage{s}_block{b}",
                se_ratio=se_ratio,
            )
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def cifar_taps(depth: int) -> tuple[FeatureTap, ...]:
    n = (depth - 2) // 6
    return tuple(FeatureTap(f"stage{s}_block{n}_out", 2 ** (s - 1)) for s in (1, 2, 3))


_CIFAR_META = dict(family="resnet_cifar", paper=PAPER, year=2016, input_shape=(32, 32, 3), dataset="cifar10", min_input_size=8)


@register_model(**_CIFAR_META, feature_taps=cifar_taps(20), reported_top1=91.25)
def ResNet20(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet20", drop_path_rate=0.0):
    """CIFAR ResNet-20 (0.27M parameters; 8.75 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(20, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=cifar_taps(32), reported_top1=92.49)
def ResNet32(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet32", drop_path_rate=0.0):
    """CIFAR ResNet-32 (0.46M parameters; 7.51 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(32, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=cifar_taps(44), reported_top1=92.83)
def ResNet44(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet44", drop_path_rate=0.0):
    """CIFAR ResNet-44 (0.66M parameters; 7.17 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(44, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=cifar_taps(56), reported_top1=93.03)
def ResNet56(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
             classifier_activation="softmax", name="resnet56", drop_path_rate=0.0):
    """CIFAR ResNet-56 (0.85M parameters; 6.97 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(56, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


@register_model(**_CIFAR_META, feature_taps=cifar_taps(110), reported_top1=93.57, tags=("heavy",))
def ResNet110(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
              classifier_activation="softmax", name="resnet110", drop_path_rate=0.0):
    """CIFAR ResNet-110 (1.7M parameters; 6.43 % CIFAR-10 error in the paper).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return CifarResNet(110, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate)


# ---------------------------------------------------------------------------------------------------------------------
# ImageNet ResNets (and the generic builder that ResNeXt and SE-ResNet reuse).


@dataclass(frozen=True)
class ResNetSpec:
    """An ImageNet residual network: its stages and how its blocks are built.

    Attributes:
        stages: the four stages; ``Stage.filters`` is a basic block's width or a bottleneck's base width (its
            output has 4x as many channels).
        block: "basic" (two 3x3 convs) or "bottleneck" (1x1 → 3x3 → 1x1).
        groups: cardinality of the bottleneck's 3x3 conv (ResNeXt); 1 for ResNet.
        width_per_group: channels per group of that conv at base width 64; the inner width of a bottleneck with
            base width ``f`` is ``f * width_per_group // 64 * groups``, so (1, 64) is ResNet's ``f``.
        stride_in_3x3: put a bottleneck's stride on its 3x3 conv (torchvision's "v1.5", ResNeXt) instead of its first
            1x1 conv (the paper's Caffe model and keras.applications).
        se_ratio: squeeze-and-excitation reduction ratio on every residual branch (SENet); 0 for none.
    """

    stages: tuple[Stage, ...]
    block: str = "bottleneck"
    groups: int = 1
    width_per_group: int = 64
    stride_in_3x3: bool = False
    se_ratio: int = 0


# He et al. (2015) initialization for the ImageNet-scale families. Uniform rather than (truncated) normal: the
# variance, which is all the derivation fixes, is the same, and drawing tens of millions of truncated normals makes
# building a ResNet-152 about 40 % slower. (The CIFAR models keep "he_normal".)
KERNEL_INIT = "he_uniform"

# Blocks per stage (the paper's table 1); ResNet v2, ResNeXt and SE-ResNet use the same counts.
IMAGENET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def imagenet_stages(blocks) -> tuple[Stage, ...]:
    """Stages with base widths 64, 128, 256, 512 and strides 1, 2, 2, 2 (after the stride-4 stem)."""
    return tuple(Stage(64 * 2**i, n, 1 if i == 0 else 2) for i, n in enumerate(blocks))


IMAGENET_SPECS = {
    depth: ResNetSpec(imagenet_stages(blocks), block="basic" if depth < 50 else "bottleneck")
    for depth, blocks in IMAGENET_BLOCKS.items()
}


def imagenet_stem(x, *, use_bias: bool, preact: bool = False):
    """7x7/2 conv (64) → [BN → ReLU] → 3x3/2 max-pool, with keras.applications' explicit zero padding.

    ``preact=True`` (pre-activation ResNets) leaves out the BN and ReLU: the first block normalizes.
    """
    x = keras.layers.ZeroPadding2D(3, name="stem_pad")(x)
    x = keras.layers.Conv2D(
        64, 7, strides=2, use_bias=use_bias, kernel_initializer=KERNEL_INIT, name="stem_conv"
    )(x)
    if not preact:
        x = keras.layers.BatchNormalization(epsilon=1.001e-5, name="stem_bn")(x)
        x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def _projection(x, filters, stride, *, use_bias, name):
    """The option-B shortcut: identity, or a 1x1 conv + BN (``{name}_0_*``) where the shape changes."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    return conv_bn(
        x, filters, 1, stride, use_bias=use_bias, activation=False, kernel_initializer=KERNEL_INIT, name=f"{name}_0"
    )


def _merge(shortcut, x, *, spec: ResNetSpec, drop_rate: float, name: str):
    """[SE →] [drop path →] add the shortcut → ReLU (``{name}_out``)."""
    if spec.se_ratio:
        x = squeeze_excite(x, spec.se_ratio, name=f"{name}_se")
    if drop_rate:
        x = DropPath(drop_rate, name=f"{name}_drop_path")(x)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def basic_block(x, filters, stride, *, spec: ResNetSpec, use_bias: bool, drop_rate: float, name: str):
    """Two 3x3 conv-BN layers (the first strided) and an option-B shortcut; ``filters`` output channels."""
    shortcut = _projection(x, filters, stride, use_bias=use_bias, name=name)
    x = conv_bn(x, filters, 3, stride, use_bias=use_bias, padding="symmetric", kernel_initializer=KERNEL_INIT,
                name=f"{name}_1")
    x = conv_bn(x, filters, 3, 1, use_bias=use_bias, activation=False, kernel_initializer=KERNEL_INIT,
                name=f"{name}_2")
    return _merge(shortcut, x, spec=spec, drop_rate=drop_rate, name=name)


def bottleneck_block(x, filters, stride, *, spec: ResNetSpec, use_bias: bool, drop_rate: float, name: str):
    """1x1 → 3x3 (grouped for ResNeXt) → 1x1 conv-BN layers and an option-B shortcut; ``4 * filters`` outputs."""
    width = filters * spec.width_per_group // 64 * spec.groups
    shortcut = _projection(x, 4 * filters, stride, use_bias=use_bias, name=name)
    stride_1x1, stride_3x3 = (1, stride) if spec.stride_in_3x3 else (stride, 1)
    x = conv_bn(x, width, 1, stride_1x1, use_bias=use_bias, kernel_initializer=KERNEL_INIT, name=f"{name}_1")
    x = conv_bn(x, width, 3, stride_3x3, use_bias=use_bias, groups=spec.groups, padding="symmetric",
                kernel_initializer=KERNEL_INIT, name=f"{name}_2")
    x = conv_bn(x, 4 * filters, 1, 1, use_bias=use_bias, activation=False, kernel_initializer=KERNEL_INIT,
                name=f"{name}_3")
    return _merge(shortcut, x, spec=spec, drop_rate=drop_rate, name=name)


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def ResNet(
    spec: ResNetSpec,
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
    conv_bias: bool,
):
    """The generic ImageNet ResNet builder (ResNet, ResNeXt, SE-ResNet); the registered variants fix ``spec``."""
    if spec.block not in BLOCKS:
        raise ValueError(f"Invalid block: expected one of {sorted(BLOCKS)}. Received: block={spec.block!r}")
    block_fn = BLOCKS[spec.block]
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(224, 224, 3), min_size=32,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = imagenet_stem(inputs, use_bias=conv_bias)
    rates = iter(drop_path_rates(drop_path_rate, sum(s.blocks for s in spec.stages)))
    for s, stage in enumerate(spec.stages, start=1):
        for b in range(1, stage.blocks + 1):
            x = block_fn(
                x, stage.filters, stage.stride if b == 1 else 1, spec=spec, use_bias=conv_bias,
                drop_rate=next(rates), name=f"stage{s}_block{b}",
            )
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def imagenet_taps(spec: ResNetSpec) -> tuple[FeatureTap, ...]:
    """The stem's ReLU (stride 2) and each stage's last block output (strides 4, 8, 16, 32)."""
    return (FeatureTap("stem_relu", 2),) + tuple(
        FeatureTap(f"stage{s}_block{stage.blocks}_out", 2 ** (s + 1)) for s, stage in enumerate(spec.stages, start=1)
    )


_IMAGENET_META = dict(family="resnet", paper=PAPER, year=2016, input_shape=(224, 224, 3), min_input_size=32)


@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(IMAGENET_SPECS[18]), reported_top1=72.12)
def ResNet18(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet18", drop_path_rate=0.0, conv_bias=True):
    """ImageNet ResNet-18 (basic blocks; 11.7M parameters without conv biases, as in torchvision).

    Reported top-1: 72.12 % (the paper's table 2, 10-crop testing; that row uses option-A shortcuts).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        conv_bias: give every convolution a bias, as keras.applications' v1 does (default True); False gives the
            paper's and torchvision's bias-free convolutions and parameter counts.
    """
    return ResNet(IMAGENET_SPECS[18], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=conv_bias)


@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(IMAGENET_SPECS[34]), reported_top1=75.48)
def ResNet34(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet34", drop_path_rate=0.0, conv_bias=True):
    """ImageNet ResNet-34 (basic blocks; 21.8M parameters without conv biases, as in torchvision).

    Reported top-1: 75.48 % (the paper's table 3, option B, 10-crop testing).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        conv_bias: give every convolution a bias, as keras.applications' v1 does (default True); False gives the
            paper's and torchvision's bias-free convolutions and parameter counts.
    """
    return ResNet(IMAGENET_SPECS[34], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=conv_bias)


@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(IMAGENET_SPECS[50]), reported_top1=77.15, tags=("heavy",))
def ResNet50(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet50", drop_path_rate=0.0, conv_bias=True):
    """ImageNet ResNet-50 v1, equal to ``keras.applications.ResNet50`` (25.6M parameters with conv biases).

    Reported top-1: 77.15 % (the paper's table 3, 10-crop testing).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        conv_bias: give every convolution a bias, as keras.applications' v1 does (default True); False gives the
            paper's and torchvision's bias-free convolutions and parameter counts.
    """
    return ResNet(IMAGENET_SPECS[50], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=conv_bias)


@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(IMAGENET_SPECS[101]), reported_top1=78.25, tags=("heavy",))
def ResNet101(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name="resnet101", drop_path_rate=0.0, conv_bias=True):
    """ImageNet ResNet-101 v1, equal to ``keras.applications.ResNet101`` (44.7M parameters with conv biases).

    Reported top-1: 78.25 % (the paper's table 3, 10-crop testing).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        conv_bias: give every convolution a bias, as keras.applications' v1 does (default True); False gives the
            paper's and torchvision's bias-free convolutions and parameter counts.
    """
    return ResNet(IMAGENET_SPECS[101], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=conv_bias)


@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(IMAGENET_SPECS[152]), reported_top1=78.57, tags=("heavy",))
def ResNet152(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name="resnet152", drop_path_rate=0.0, conv_bias=True):
    """ImageNet ResNet-152 v1, equal to ``keras.applications.ResNet152`` (60.4M parameters with conv biases).

    Reported top-1: 78.57 % (the paper's table 3, 10-crop testing).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        conv_bias: give every convolution a bias, as keras.applications' v1 does (default True); False gives the
            paper's and torchvision's bias-free convolutions and parameter counts.
    """
    return ResNet(IMAGENET_SPECS[152], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=conv_bias)


# torchvision's ResNet-50/101/152 ("v1.5", also timm's resnet50/101/152): the stride on each bottleneck's 3x3 conv
# rather than its first 1x1 conv, and bias-free convolutions. Their trainable parameters equal torchvision's counts
# (25,557,032 / 44,549,160 / 60,192,808). ResNet-18/34 need no variant: ``conv_bias=False`` is torchvision's.
TORCHVISION_SPECS = {depth: replace(IMAGENET_SPECS[depth], stride_in_3x3=True) for depth in (50, 101, 152)}

@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(TORCHVISION_SPECS[50]), reported_top1=77.15,
                tags=("heavy",))
def ResNet50_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="resnet50_tv", drop_path_rate=0.0):
    """ImageNet ResNet-50 as torchvision's and timm's ``resnet50``: the stride on each bottleneck's 3x3 conv ("v1.5")
    and bias-free convolutions; 25,557,032 trainable parameters.

    Reported top-1: 77.15 % (the paper's v1, table 3, 10-crop testing).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(TORCHVISION_SPECS[50], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(TORCHVISION_SPECS[101]), reported_top1=78.25,
                tags=("heavy",))
def ResNet101_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", name="resnet101_tv", drop_path_rate=0.0):
    """ImageNet ResNet-101 as torchvision's and timm's ``resnet101``: the stride on each bottleneck's 3x3 conv
    ("v1.5") and bias-free convolutions; 44,549,160 trainable parameters.

    Reported top-1: 78.25 % (the paper's v1, table 3, 10-crop testing).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(TORCHVISION_SPECS[101], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_IMAGENET_META, feature_taps=imagenet_taps(TORCHVISION_SPECS[152]), reported_top1=78.57,
                tags=("heavy",))
def ResNet152_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", name="resnet152_tv", drop_path_rate=0.0):
    """ImageNet ResNet-152 as torchvision's and timm's ``resnet152``: the stride on each bottleneck's 3x3 conv
    ("v1.5") and bias-free convolutions; 60,192,808 trainable parameters.

    Reported top-1: 78.57 % (the paper's v1, table 3, 10-crop testing).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(TORCHVISION_SPECS[152], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)
