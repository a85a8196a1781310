"""SqueezeNet (Iandola, Han, Moskewicz, Ashraf, Dally and Keutzer, "SqueezeNet: AlexNet-level accuracy with 50x
fewer parameters and <0.5MB model size", 2016).

A stem convolution, then fire modules (a 1x1 "squeeze" convolution feeding parallel 1x1 and 3x3 "expand"
convolutions whose outputs are concatenated) in three stages, each opened by a 3x3/2 max pooling. The head is the
paper's own: dropout, a 1x1 convolution to ``classes`` channels with ReLU, global average pooling, then the
classifier activation (there is no Dense layer). Convolutions have biases; there is no batch normalization.

Initialization is the reference's (torchvision): He-uniform convolutions and N(0, 0.01) for the classifier
convolution. It matters without batch normalization: with Keras' default Glorot init each fire module shrinks the
signal's variance about 5x (its expand convolutions have four times more outputs than inputs), the logits start
near zero and training stalls at chance.

Registered variants (names as in torchvision):

- ``squeezenet1_0``: the paper's network (table 1): 7x7/2 stem with 96 filters, max pooling after fire4 and fire8.
  1,248,424 parameters at 1000 classes.
- ``squeezenet1_1``: the authors' SqueezeNet v1.1 (released with the Caffe model, same accuracy with 2.4x less
  computation): 3x3/2 stem with 64 filters, pooling moved earlier (after fire3 and fire5). 1,235,496 parameters.

Both counts equal the reference implementation's (torchvision ``squeezenet1_0`` / ``squeezenet1_1``).

Difference from the reference, on purpose: the Caffe and torchvision models do not pad the stem convolution and
pool in ceil mode (224 -> 111 -> 55 -> 27 -> 13); here every convolution and pooling pads "same"
(224 -> 112 -> 56 -> 28 -> 14), so the feature maps sit at exact strides 2/4/8/16 and small inputs (32x32) still
build. The parameters are unaffected. The builder's ``padding="torch"`` option has the reference's layout (unpadded
stem, ceil-mode pooling as a bottom/right zero padding before "valid" pooling, exact after the ReLUs); it is
registered as ``squeezenet1_0_tv`` and ``squeezenet1_1_tv``, the variants torchvision's weights (tag ``tv_in1k``)
load into, with outputs equal to torchvision's. Feature taps: the stem (stride 2) and the last fire module of each stage
(strides 4, 8, 16); SqueezeNet has no stride-32 map.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model

PAPER = "Iandola et al., SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size (2016)"


@dataclass(frozen=True)
class Fire:
    """One fire module: ``squeeze`` 1x1 filters, then ``expand`` 1x1 and ``expand`` 3x3 filters, concatenated."""

    squeeze: int
    expand: int


@dataclass(frozen=True)
class SqueezeNetSpec:
    """The stem convolution and the fire modules of each stage (every stage starts with a 3x3/2 max pooling)."""

    stem_filters: int
    stem_kernel: int
    stages: tuple[tuple[Fire, ...], ...]


SPECS = {
    "1_0": SqueezeNetSpec(
        stem_filters=96,
        stem_kernel=7,
        stages=(
            (Fire(16, 64), Fire(16, 64), Fire(32, 128)),  # fire2-4
            (Fire(32, 128), Fire(48, 192), Fire(48, 192), Fire(64, 256)),  # fire5-8
            (Fire(64, 256),),  # fire9
        ),
    ),
    "1_1": SqueezeNetSpec(
        stem_filters=64,
        stem_kernel=3,
        stages=(
            (Fire(16, 64), Fire(16, 64)),  # fire2-3
            (Fire(32, 128), Fire(32, 128)),  # fire4-5
            (Fire(48, 192), Fire(48, 192), Fire(64, 256), Fire(64, 256)),  # fire6-9
        ),
    ),
}


def _conv_relu(x, filters, kernel_size, *, name, stride=1, padding="same", kernel_initializer="he_uniform"):
    x = keras.layers.Conv2D(filters, kernel_size, strides=stride, padding=padding,
                            kernel_initializer=kernel_initializer, name=f"{name}_conv")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def fire_module(x, fire: Fire, *, name):
    """Squeeze (1x1) → expand (1x1 ‖ 3x3) → concatenation named ``{name}_out``."""
    squeezed = _conv_relu(x, fire.squeeze, 1, name=f"{name}_squeeze")
    expand1 = _conv_relu(squeezed, fire.expand, 1, name=f"{name}_expand1x1")
    expand3 = _conv_relu(squeezed, fire.expand, 3, name=f"{name}_expand3x3")
    return keras.layers.Concatenate(axis=-1, name=f"{name}_out")([expand1, expand3])


def SqueezeNet(
    spec: SqueezeNetSpec,
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    name: str,
    dropout: float,
    padding: str = "same",
):
    """The generic SqueezeNet builder; the registered variants pick a ``spec`` and a ``padding`` ("same", or
    "torch" for torchvision's unpadded stem and ceil-mode pooling)."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid dropout: expected a rate in [0, 1). Received: dropout={dropout!r}")
    common.check_padding(padding)
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(224, 224, 3), min_size=32,
    )
    inputs = common.model_input(input_tensor, input_shape)
    torch_layout = padding == "torch"
    x = _conv_relu(inputs, spec.stem_filters, spec.stem_kernel, stride=2, padding="valid" if torch_layout else "same",
                   name="stem")
    for s, fires in enumerate(spec.stages, start=1):
        if torch_layout:
            x = common.ceil_mode_padding(x, 3, 2, name=f"stage{s}_pool_pad")
        x = keras.layers.MaxPooling2D(3, strides=2, padding="valid" if torch_layout else "same",
                                      name=f"stage{s}_pool")(x)
        for b, fire in enumerate(fires, start=1):
            x = fire_module(x, fire, name=f"stage{s}_block{b}")
    if include_top:
        # The paper's head: dropout, conv10 (1x1, ReLU) to the classes, global average pooling, softmax.
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        x = _conv_relu(x, classes, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="head")
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = common.classifier_head(
            x, include_top=False, pooling=pooling, classes=classes, classifier_activation=classifier_activation
        )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def _taps(spec: SqueezeNetSpec) -> tuple[FeatureTap, ...]:
    stages = tuple(
        FeatureTap(f"stage{s}_block{len(fires)}_out", 2 ** (s + 1)) for s, fires in enumerate(spec.stages, start=1)
    )
    return (FeatureTap("stem_relu", 2),) + stages


_META = dict(family="squeezenet", paper=PAPER, year=2016, input_shape=(224, 224, 3), min_input_size=32)


@register_model(**_META, feature_taps=_taps(SPECS["1_0"]), reported_top1=57.5)
def SqueezeNet1_0(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                  classifier_activation="softmax", name="squeezenet1_0", dropout=0.5):
    """SqueezeNet 1.0, the paper's network (1.25M parameters; 57.5 % ImageNet top-1 in the paper).

    Family arguments:
        dropout: dropout rate before the final 1x1 convolution (0.5 in the paper; 0 disables it).
    """
    return SqueezeNet(SPECS["1_0"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout=dropout)


@register_model(**_META, feature_taps=_taps(SPECS["1_1"]), reported_top1=None)
def SqueezeNet1_1(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                  classifier_activation="softmax", name="squeezenet1_1", dropout=0.5):
    """SqueezeNet 1.1 (1.24M parameters, 2.4x less computation than 1.0; not in the paper, which gives no top-1).

    Family arguments:
        dropout: dropout rate before the final 1x1 convolution (0.5 in the paper; 0 disables it).
    """
    return SqueezeNet(SPECS["1_1"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout=dropout)


_TV_META = dict(family="squeezenet", paper=PAPER, year=2016, input_shape=(224, 224, 3), min_input_size=32)


@register_model(**_TV_META, feature_taps=_taps(SPECS["1_0"])[:2], reported_top1=57.5, name="squeezenet1_0_tv")
def SqueezeNet1_0_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name="squeezenet1_0_tv", dropout=0.5):
    """SqueezeNet 1.0 in torchvision's layout (unpadded stem, ceil-mode pooling: 224 -> 111 -> 55 -> 27 -> 13), the
    variant torchvision's ``squeezenet1_0`` weights load into; the same 1,248,424 parameters as ``squeezenet1_0``.
    Feature taps: the stem and the first stage only (strides 2 and 4); the unpadded stem and ceil-mode pooling put
    the later maps at strides ~8.5 and ~18 of a 128x128 input.

    Family arguments:
        dropout: dropout rate before the final 1x1 convolution (0.5 in the paper; 0 disables it).
    """
    return SqueezeNet(SPECS["1_0"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout=dropout, padding="torch")


@register_model(**_TV_META, feature_taps=_taps(SPECS["1_1"])[:2], reported_top1=None, name="squeezenet1_1_tv")
def SqueezeNet1_1_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name="squeezenet1_1_tv", dropout=0.5):
    """SqueezeNet 1.1 in torchvision's layout (unpadded stem, ceil-mode pooling), the variant torchvision's
    ``squeezenet1_1`` weights load into; the same 1,235,496 parameters as ``squeezenet1_1``. Feature taps: the stem
    and the first stage only (strides 2 and 4), as in ``squeezenet1_0_tv``.

    Family arguments:
        dropout: dropout rate before the final 1x1 convolution (0.5 in the paper; 0 disables it).
    """
    return SqueezeNet(SPECS["1_1"], include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, dropout=dropout, padding="torch")
