"""Densely connected networks (Huang, Liu, van der Maaten and Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017).

Inside a dense block every layer receives the concatenation of all earlier feature maps of the block and adds
``growth_rate`` new ones. A dense layer is BN → ReLU → 1x1 conv (4 x growth_rate filters, the "B" bottleneck)
→ BN → ReLU → 3x3 conv (growth_rate filters); a transition between blocks is BN → ReLU → 1x1 conv that keeps
``compression`` of the channels (the "C" in DenseNet-BC) → 2x2 average pooling. After the last block: BN → ReLU →
global average pooling → classifier.

- ImageNet DenseNet-121/169/201 (table 1, k = 32): 7x7/2 conv stem with 64 filters and 3x3/2 max pooling, four
  blocks. Same layers, in the same order, as ``keras.applications.DenseNet121/169/201`` (only the names follow
  kerazoo's scheme): equal parameter counts (8,062,504 / 14,307,880 / 20,242,984 at 224x224x3, 1000 classes), and
  ``model.set_weights(keras_model.get_weights())`` transfers keras.applications' weights unchanged.
- DenseNet-161 (k = 48, 96 stem filters, blocks of 6, 12, 36, 24): the paper's table 1 network that only
  torchvision (and timm) publish weights for; 28,681,000 trainable parameters like torchvision's ``densenet161``.
- torchvision's and timm's DenseNets are this same network (the stem pads 3 and 1 on every side, like PyTorch), so
  their ``tv_in1k`` / ``timm/...`` weights load into these variants directly; only the BatchNorm epsilon differs
  (PyTorch's 1e-5 against keras.applications' 1.001e-5, a relative change of 1e-8 in the outputs).
- CIFAR DenseNet-BC (depth 100, k = 12; table 2, 0.8M parameters): a 3x3 conv with 2k = 24 filters and three blocks
  of (100 - 4) / 6 = 16 bottleneck layers; 769,162 trainable parameters for 10 classes (plus 23,988 BatchNorm
  moving statistics that Keras also counts).

Variants are rows of ``DENSENETS``; the one builder ``DenseNet`` loops over them. ``dropout_rate`` adds the paper's
dropout after every convolution except the first (0.2 in its runs without data augmentation).
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
    "torch", "keras.applications' DenseNet weights (ImageNet mean/std)"
)

PAPER = "Huang et al., Densely Connected Convolutional Networks (CVPR 2017)"
BN_EPSILON = 1.001e-5  # keras.applications' value


@dataclass(frozen=True)
class DenseNetSpec:
    """One DenseNet: dense layers per block, growth rate, stem and transition compression."""

    blocks: tuple[int, ...]
    growth_rate: int
    stem: str  # "imagenet": 7x7/2 conv + 3x3/2 max pool; "cifar": one 3x3 conv
    stem_filters: int
    compression: float = 0.5

    @property
    def default_shape(self) -> tuple:
        return (224, 224, 3) if self.stem == "imagenet" else (32, 32, 3)

    @property
    def min_size(self) -> int:
        """Smallest input side that still leaves a 1x1 map after every downsampling."""
        return 32 if self.stem == "imagenet" else 2 ** (len(self.blocks) - 1)


DENSENETS = {
    "densenet121": DenseNetSpec(blocks=(6, 12, 24, 16), growth_rate=32, stem="imagenet", stem_filters=64),
    "densenet161": DenseNetSpec(blocks=(6, 12, 36, 24), growth_rate=48, stem="imagenet", stem_filters=96),
    "densenet169": DenseNetSpec(blocks=(6, 12, 32, 32), growth_rate=32, stem="imagenet", stem_filters=64),
    "densenet201": DenseNetSpec(blocks=(6, 12, 48, 32), growth_rate=32, stem="imagenet", stem_filters=64),
    "densenetbc100": DenseNetSpec(blocks=(16, 16, 16), growth_rate=12, stem="cifar", stem_filters=24),
}


def bn_relu(x, *, name):
    """BatchNorm → ReLU, named ``{name}bn`` and ``{name}relu`` (``name`` is a prefix such as ``"stem_"``)."""
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}bn")(x)
    return keras.layers.Activation("relu", name=f"{name}relu")(x)


def conv(x, filters, kernel_size, *, dropout_rate, name):
    """Bias-free conv (``{name}conv``), then dropout (``{name}dropout``) when ``dropout_rate`` > 0."""
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}conv")(x)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name=f"{name}dropout")(x)
    return x


def dense_layer(x, growth_rate, *, dropout_rate, name):
    """Bottleneck dense layer: BN-ReLU-1x1 conv (4k) - BN-ReLU-3x3 conv (k), concatenated to its input."""
    y = bn_relu(x, name=f"{name}_1_")
    y = conv(y, 4 * growth_rate, 1, dropout_rate=dropout_rate, name=f"{name}_1_")
    y = bn_relu(y, name=f"{name}_2_")
    y = conv(y, growth_rate, 3, dropout_rate=dropout_rate, name=f"{name}_2_")
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def transition(x, compression, *, dropout_rate, name):
    """BN-ReLU-1x1 conv to floor(compression x channels) - 2x2 average pooling."""
    x = bn_relu(x, name=f"{name}_")
    x = conv(x, int(x.shape[-1] * compression), 1, dropout_rate=dropout_rate, name=f"{name}_")
    return keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def stem(x, spec: DenseNetSpec):
    if spec.stem == "imagenet":
        x = keras.layers.ZeroPadding2D(3, name="stem_pad")(x)
        x = keras.layers.Conv2D(spec.stem_filters, 7, strides=2, use_bias=False, name="stem_conv")(x)
        x = bn_relu(x, name="stem_")
        x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    return keras.layers.Conv2D(spec.stem_filters, 3, padding="same", use_bias=False, name="stem_conv")(x)


def DenseNet(
    spec: DenseNetSpec,
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
):
    """The generic DenseNet builder; the registered variants pick a row of ``DENSENETS``."""
    if isinstance(dropout_rate, bool) or not isinstance(dropout_rate, (int, float)) or not 0.0 <= dropout_rate < 1.0:
        raise ValueError(
            f"Invalid dropout_rate: expected a probability in [0, 1). Received: dropout_rate={dropout_rate!r}"
        )
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=spec.default_shape, min_size=spec.min_size,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = stem(inputs, spec)
    for s, layers in enumerate(spec.blocks, start=1):
        for b in range(1, layers + 1):
            x = dense_layer(x, spec.growth_rate, dropout_rate=dropout_rate, name=f"stage{s}_block{b}")
        if s < len(spec.blocks):
            x = transition(x, spec.compression, dropout_rate=dropout_rate, name=f"stage{s}_transition")
    x = bn_relu(x, name="final_")
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def _taps(spec: DenseNetSpec) -> tuple[FeatureTap, ...]:
    """The activated maps before each transition's 1x1 conv, and after the final BN-ReLU."""
    first = 4 if spec.stem == "imagenet" else 1
    stem_tap = (FeatureTap("stem_relu", 2),) if spec.stem == "imagenet" else ()
    stages = tuple(FeatureTap(f"stage{s}_transition_relu", first * 2 ** (s - 1)) for s in range(1, len(spec.blocks)))
    return stem_tap + stages + (FeatureTap("final_relu", first * 2 ** (len(spec.blocks) - 1)),)


_IMAGENET_META = dict(family="densenet", paper=PAPER, year=2017, input_shape=(224, 224, 3), dataset="imagenet",
                      min_input_size=32, tags=("heavy",))


@register_model(**_IMAGENET_META, feature_taps=_taps(DENSENETS["densenet121"]), reported_top1=74.98)
def DenseNet121(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="densenet121", dropout_rate=0.0):
    """DenseNet-121 (k = 32; 8.0M parameters; 25.02 % single-crop top-1 error on ImageNet in the paper's table 3).

    Family arguments:
        dropout_rate: dropout after every convolution but the first (the paper uses 0.2 on CIFAR without data
            augmentation, none on ImageNet); default 0.
    """
    return DenseNet(DENSENETS["densenet121"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate)


@register_model(**_IMAGENET_META, feature_taps=_taps(DENSENETS["densenet161"]), reported_top1=None)
def DenseNet161(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="densenet161", dropout_rate=0.0):
    """DenseNet-161 (k = 48, 96 stem filters; 28.7M parameters). Not in the paper's table 3 (which has no top-1 for
    it); keras.applications has no DenseNet-161; torchvision and timm publish weights for it.

    Family arguments:
        dropout_rate: dropout after every convolution but the first (the paper uses 0.2 on CIFAR without data
            augmentation, none on ImageNet); default 0.
    """
    return DenseNet(DENSENETS["densenet161"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate)


@register_model(**_IMAGENET_META, feature_taps=_taps(DENSENETS["densenet169"]), reported_top1=76.20)
def DenseNet169(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="densenet169", dropout_rate=0.0):
    """DenseNet-169 (k = 32; 14.3M parameters; 23.80 % single-crop top-1 error on ImageNet in the paper's table 3).

    Family arguments:
        dropout_rate: dropout after every convolution but the first (the paper uses 0.2 on CIFAR without data
            augmentation, none on ImageNet); default 0.
    """
    return DenseNet(DENSENETS["densenet169"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate)


@register_model(**_IMAGENET_META, feature_taps=_taps(DENSENETS["densenet201"]), reported_top1=77.42)
def DenseNet201(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="densenet201", dropout_rate=0.0):
    """DenseNet-201 (k = 32; 20.2M parameters; 22.58 % single-crop top-1 error on ImageNet in the paper's table 3).

    Family arguments:
        dropout_rate: dropout after every convolution but the first (the paper uses 0.2 on CIFAR without data
            augmentation, none on ImageNet); default 0.
    """
    return DenseNet(DENSENETS["densenet201"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate)


@register_model(family="densenet_cifar", paper=PAPER, year=2017, input_shape=(32, 32, 3), dataset="cifar10",
                min_input_size=DENSENETS["densenetbc100"].min_size, feature_taps=_taps(DENSENETS["densenetbc100"]),
                reported_top1=95.49, tags=("heavy",))
def DenseNetBC100(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
                  classifier_activation="softmax", name="densenetbc100", dropout_rate=0.0):
    """DenseNet-BC for CIFAR, depth 100, growth rate 12, compression 0.5 (0.8M parameters; 4.51 % error on
    CIFAR-10 with standard augmentation, C10+, in the paper's table 2).

    Family arguments:
        dropout_rate: dropout after every convolution but the first (the paper uses 0.2 without data
            augmentation); default 0.
    """
    return DenseNet(DENSENETS["densenetbc100"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                    input_shape=input_shape, pooling=pooling, classes=classes,
                    classifier_activation=classifier_activation, name=name, dropout_rate=dropout_rate)
