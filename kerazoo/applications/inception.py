"""Inception networks: GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", 2014) and Inception-v3
(Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", 2016).

An Inception module runs parallel branches on the same input and concatenates them along the channels. Both
networks are data for one builder: a stem (a sequence of ops) and stages of modules, every module a tuple of
branches, every branch a sequence of ``Conv``/``Pool`` ops, where a ``Fork`` splits a branch into sub-branches that
are concatenated (Inception-v3's expanded 1x3 + 3x1 filter banks). Stage S works at stride 2**S.

- GoogLeNet: the paper's table 1 and figure 3: convolutions with bias and ReLU (no batch normalization), local
  response normalization in the stem, "same" padding everywhere (224 → 112 → 56 → 28 → 14 → 7, the paper's sizes),
  5x5 convolutions in the 5x5 branches (torchvision's replica uses 3x3 there), 7x7 global average pooling, dropout
  0.4 and the linear classifier: 6,998,552 parameters with 1000 classes. ``aux_classifiers=True`` adds the two
  auxiliary classifiers of section 5 on inception (4a) and (4d) (5x5/3 average pooling, 1x1 convolution with 128
  filters, a 1024-unit dense layer, dropout 0.7, the linear classifier), and the model then has three outputs
  ``[main, aux1, aux2]``; train with the losses weighted 1, 0.3, 0.3 (the paper) and use only the first output at
  inference.
- InceptionV3: exactly keras.applications.InceptionV3 (the same modules, branch order and 3x3 stride-2 "valid"
  reductions, convolutions without bias followed by BatchNormalization without scale): 23,851,784 parameters at
  299x299x3 with 1000 classes. The auxiliary classifier of the paper is not included (keras.applications has none).

Layer names: ``stem_conv{i}`` (+ ``_bn``, ``_relu``), ``stem_pool{i}``, ``stem_lrn{i}``; inside a module
``stage{S}_block{B}_branch{K}_conv{i}`` (+ ``_bn``, ``_relu``), ``..._branch{K}_pool``, fork sub-branches
``..._branch{K}_fork{J}_conv{i}`` joined by ``..._branch{K}_concat``, and the module output
``stage{S}_block{B}_concat``; a pool that opens a stage is ``stage{S}_pool``. GoogLeNet's stage{S}_block{B} is the
paper's inception (S, B-th letter), e.g. stage4_block1 is (4a). The heads are ``avg_pool``, ``head_dropout``,
``predictions`` and, for the auxiliary classifiers, ``aux{N}_pool``/``_conv``/``_relu``/``_flatten``/``_fc``/
``_dropout``/``_predictions``.
"""

from __future__ import annotations

from dataclasses import dataclass
import keras

from kerazoo.applications import common
from kerazoo.applications.pretrained.labels import decode_predictions  # noqa: F401  (ImageNet classes)
from kerazoo.applications.pretrained.preprocess import preprocess_input_for
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.layers import LocalResponseNormalization

# For arrays fed to a model built without weights: what the pretrained models' ``preprocess`` layer does.
preprocess_input = preprocess_input_for(
    "tf", "keras.applications' InceptionV3 weights ([-1, 1])"
)

GOOGLENET_PAPER = "Szegedy et al., Going Deeper with Convolutions (2014)"
INCEPTION_V3_PAPER = "Szegedy et al., Rethinking the Inception Architecture for Computer Vision (2016)"


@dataclass(frozen=True)
class Conv:
    """A convolution (kernel ``k`` or ``(rows, cols)``) with ReLU, and BatchNormalization in Inception-v3."""

    filters: int
    kernel_size: int | tuple[int, int]
    strides: int = 1
    padding: str = "same"


@dataclass(frozen=True)
class Pool:
    """Max ("max") or average ("avg") pooling."""

    kind: str
    size: int = 3
    strides: int = 1
    padding: str = "same"


@dataclass(frozen=True)
class LRN:
    """Local response normalization (GoogLeNet's stem; dropped when ``local_response_norm=False``)."""


@dataclass(frozen=True)
class Fork:
    """Apply each sub-branch to the branch's current tensor and concatenate the results."""

    branches: tuple[tuple[Conv, ...], ...]


Op = Conv | Pool | LRN | Fork


@dataclass(frozen=True)
class Stage:
    """Inception modules (each a tuple of branches) at one resolution, optionally opened by a pool."""

    modules: tuple[tuple[tuple[Op, ...], ...], ...]
    pool: Pool | None = None


@dataclass(frozen=True)
class InceptionSpec:
    stem: tuple[Op, ...]
    stages: tuple[Stage, ...]
    first_stage: int  # the stage number (log2 of the stride) of stages[0]
    batch_norm: bool
    aux_after: tuple[tuple[int, int], ...] = ()  # (stage, block) outputs that feed auxiliary classifiers


def googlenet_module(b1, b3_reduce, b3, b5_reduce, b5, pool_proj):
    """GoogLeNet's module with the columns of the paper's table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
    pool proj."""
    return (
        (Conv(b1, 1),),
        (Conv(b3_reduce, 1), Conv(b3, 3)),
        (Conv(b5_reduce, 1), Conv(b5, 5)),
        (Pool("max", 3, 1), Conv(pool_proj, 1)),
    )


_MAX_3X3_S2 = Pool("max", 3, 2)

GOOGLENET = InceptionSpec(
    stem=(Conv(64, 7, strides=2), _MAX_3X3_S2, LRN(), Conv(64, 1), Conv(192, 3), LRN(), _MAX_3X3_S2),
    stages=(
        Stage((googlenet_module(64, 96, 128, 16, 32, 32), googlenet_module(128, 128, 192, 32, 96, 64))),
        Stage(
            (
                googlenet_module(192, 96, 208, 16, 48, 64),
                googlenet_module(160, 112, 224, 24, 64, 64),
                googlenet_module(128, 128, 256, 24, 64, 64),
                googlenet_module(112, 144, 288, 32, 64, 64),
                googlenet_module(256, 160, 320, 32, 128, 128),
            ),
            pool=_MAX_3X3_S2,
        ),
        Stage(
            (googlenet_module(256, 160, 320, 32, 128, 128), googlenet_module(384, 192, 384, 48, 128, 128)),
            pool=_MAX_3X3_S2,
        ),
    ),
    first_stage=3,
    batch_norm=False,
    aux_after=((4, 1), (4, 4)),  # inception (4a) and (4d)
)


# Inception-v3's modules, named after the paper's figures 5, 6 and 7 and keras.applications' mixed0 ... mixed10.
def inception_v3_35x35(pool_proj):  # figure 5: mixed0-2
    return (
        (Conv(64, 1),),
        (Conv(48, 1), Conv(64, 5)),
        (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
        (Pool("avg", 3, 1), Conv(pool_proj, 1)),
    )


def inception_v3_17x17(c7):  # figure 6 with n = 7: mixed4-7
    return (
        (Conv(192, 1),),
        (Conv(c7, 1), Conv(c7, (1, 7)), Conv(192, (7, 1))),
        (Conv(c7, 1), Conv(c7, (7, 1)), Conv(c7, (1, 7)), Conv(c7, (7, 1)), Conv(192, (1, 7))),
        (Pool("avg", 3, 1), Conv(192, 1)),
    )


def inception_v3_8x8():  # figure 7: mixed9-10
    expand = Fork(((Conv(384, (1, 3)),), (Conv(384, (3, 1)),)))
    return (
        (Conv(320, 1),),
        (Conv(384, 1), expand),
        (Conv(448, 1), Conv(384, 3), expand),
        (Pool("avg", 3, 1), Conv(192, 1)),
    )


REDUCTION_35_TO_17 = (  # mixed3
    (Conv(384, 3, strides=2, padding="valid"),),
    (Conv(64, 1), Conv(96, 3), Conv(96, 3, strides=2, padding="valid")),
    (Pool("max", 3, 2, "valid"),),
)

REDUCTION_17_TO_8 = (  # mixed8
    (Conv(192, 1), Conv(320, 3, strides=2, padding="valid")),
    (Conv(192, 1), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, strides=2, padding="valid")),
    (Pool("max", 3, 2, "valid"),),
)

INCEPTION_V3 = InceptionSpec(
    stem=(
        Conv(32, 3, strides=2, padding="valid"),
        Conv(32, 3, padding="valid"),
        Conv(64, 3),
        Pool("max", 3, 2, "valid"),
        Conv(80, 1, padding="valid"),
        Conv(192, 3, padding="valid"),
        Pool("max", 3, 2, "valid"),
    ),
    stages=(
        Stage((inception_v3_35x35(32), inception_v3_35x35(64), inception_v3_35x35(64))),
        Stage(
            (
                REDUCTION_35_TO_17,
                inception_v3_17x17(128),
                inception_v3_17x17(160),
                inception_v3_17x17(160),
                inception_v3_17x17(192),
            )
        ),
        Stage((REDUCTION_17_TO_8, inception_v3_8x8(), inception_v3_8x8())),
    ),
    first_stage=3,
    batch_norm=True,
)


def conv_unit(x, spec: Conv, *, batch_norm: bool, name: str):
    """Conv → ReLU (GoogLeNet) or Conv without bias → BatchNormalization without scale → ReLU (Inception-v3)."""
    x = keras.layers.Conv2D(
        spec.filters, spec.kernel_size, strides=spec.strides, padding=spec.padding, use_bias=not batch_norm, name=name
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(scale=False, epsilon=1e-3, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def pool_op(x, spec: Pool, *, name: str):
    layer = keras.layers.MaxPooling2D if spec.kind == "max" else keras.layers.AveragePooling2D
    return layer(spec.size, strides=spec.strides, padding=spec.padding, name=name)(x)


def apply_ops(x, ops, *, batch_norm: bool, local_response_norm: bool, name: str):
    """Apply a sequence of ops, named ``{name}_conv{i}``, ``{name}_pool{i}`` (``{name}_pool`` if only one),
    ``{name}_lrn{i}``, ``{name}_fork{j}_*`` and ``{name}_concat``."""
    counts = {Conv: 0, Pool: 0, LRN: 0}
    pools = sum(isinstance(op, Pool) for op in ops)
    for op in ops:
        if isinstance(op, Fork):
            parts = [
                apply_ops(x, branch, batch_norm=batch_norm, local_response_norm=local_response_norm,
                          name=f"{name}_fork{j}")
                for j, branch in enumerate(op.branches, start=1)
            ]
            x = keras.layers.Concatenate(name=f"{name}_concat")(parts)
            continue
        counts[type(op)] += 1
        i = counts[type(op)]
        if isinstance(op, Conv):
            x = conv_unit(x, op, batch_norm=batch_norm, name=f"{name}_conv{i}")
        elif isinstance(op, Pool):
            x = pool_op(x, op, name=f"{name}_pool{i}" if pools > 1 else f"{name}_pool")
        elif local_response_norm:
            # Caffe's bvlc_googlenet values (local_size 5, alpha 1e-4, beta 0.75, k 1) in the paper's convention.
            x = LocalResponseNormalization(
                depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75, name=f"{name}_lrn{i}"
            )(x)
    return x


def inception_module(x, branches, *, batch_norm: bool, name: str):
    outputs = [
        apply_ops(x, ops, batch_norm=batch_norm, local_response_norm=False, name=f"{name}_branch{k}")
        for k, ops in enumerate(branches, start=1)
    ]
    return keras.layers.Concatenate(name=f"{name}_concat")(outputs)


def googlenet_aux_head(x, *, classes: int, classifier_activation, name: str):
    """Section 5's auxiliary classifier: 5x5/3 average pool, 1x1 conv 128, dense 1024, dropout 0.7, classifier."""
    height, width = x.shape[1:3]
    if height is None or width is None or min(height, width) < 5:
        raise ValueError(
            "aux_classifiers=True needs a fixed input size whose inception (4a) map is at least 5x5 (an input of "
            f"at least 65x65). Received: a {height}x{width} map at {name}."
        )
    x = keras.layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = keras.layers.Conv2D(128, 1, name=f"{name}_conv")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return keras.layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


AUX_LOSS_WEIGHTS = (0.3, 0.3)
"""Section 5: "their loss gets added to the total loss of the network with a discount weight (0.3)"."""


def auxiliary_heads(model, *, spec: InceptionSpec = GOOGLENET, classifier_activation=None) -> list:
    """The auxiliary classifiers of section 5 put on a built GoogLeNet without them (``model``: a graph holding the
    ``stage{s}_block{b}_concat`` maps of ``spec.aux_after``); returns their output tensors (layers ``aux1_*``,
    ``aux2_*``). ``keras.Model(model.inputs, [model.output, *heads])`` trains them while ``model`` itself, which
    checkpoints and exports keep, never holds them."""
    classes = int(model.output_shape[-1])
    return [
        googlenet_aux_head(model.get_layer(f"stage{s}_block{b}_concat").output, classes=classes,
                           classifier_activation=classifier_activation, name=f"aux{n}")
        for n, (s, b) in enumerate(spec.aux_after, start=1)
    ]


def Inception(
    spec: InceptionSpec,
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
    local_response_norm: bool = False,
    aux_classifiers: bool = False,
):
    """The generic Inception builder; the registered variants fix ``spec``."""
    dropout = common.check_dropout(dropout)
    if aux_classifiers and not include_top:
        raise ValueError(
            "aux_classifiers=True adds classifiers, so it needs include_top=True. "
            f"Received: aux_classifiers={aux_classifiers!r}, include_top={include_top!r}"
        )
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=default_shape, min_size=min_size,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = apply_ops(inputs, spec.stem, batch_norm=spec.batch_norm, local_response_norm=local_response_norm, name="stem")
    aux_inputs = []
    for s, stage in enumerate(spec.stages, start=spec.first_stage):
        if stage.pool is not None:
            x = pool_op(x, stage.pool, name=f"stage{s}_pool")
        for b, branches in enumerate(stage.modules, start=1):
            x = inception_module(x, branches, batch_norm=spec.batch_norm, name=f"stage{s}_block{b}")
            if (s, b) in spec.aux_after:
                aux_inputs.append(x)
    outputs = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        dropout=dropout,
    )
    if aux_classifiers:
        outputs = [outputs] + [
            googlenet_aux_head(a, classes=classes, classifier_activation=classifier_activation, name=f"aux{n}")
            for n, a in enumerate(aux_inputs, start=1)
        ]
    return common.finalize(inputs, outputs, name=name, weights=weights, input_tensor=input_tensor)


@register_model(
    family="inception",
    paper=GOOGLENET_PAPER,
    year=2014,
    input_shape=(224, 224, 3),
    feature_taps=(
        FeatureTap("stem_conv1_relu", 2),
        FeatureTap("stem_conv3_relu", 4),
        FeatureTap("stage3_block2_concat", 8),
        FeatureTap("stage4_block5_concat", 16),
        FeatureTap("stage5_block2_concat", 32),
    ),
    reported_top1=None,  # the paper reports top-5 only (10.07 % error, one model, one crop)
    min_input_size=32,
    tags=("heavy",),
)
def GoogLeNet(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name="googlenet", local_response_norm=True, dropout=0.4,
              aux_classifiers=False):
    """GoogLeNet (Inception-v1) as in the paper, without batch normalization; 6,998,552 parameters (1000 classes).

    Family arguments:
        local_response_norm: local response normalization after the stem's first max pool and after its 3x3
            convolution, as in the paper's figure 3 (default True). It has no weights.
        dropout: dropout rate before the main classifier (paper: 0.4).
        aux_classifiers: add the two auxiliary classifiers on inception (4a) and (4d) (default False). The model
            then has three outputs [main, aux1, aux2] (layers "predictions", "aux1_predictions",
            "aux2_predictions") for training, and needs include_top=True and an input of at least 65x65. They add
            3,188,840 and 3,190,888 parameters at 224x224 with 1000 classes.
    """
    return Inception(
        GOOGLENET, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
        default_shape=(224, 224, 3), min_size=32, dropout=dropout, local_response_norm=local_response_norm,
        aux_classifiers=aux_classifiers,
    )


@register_model(
    family="inception",
    paper=INCEPTION_V3_PAPER,
    year=2016,
    input_shape=(299, 299, 3),
    # The stem's valid convolutions put the 35x35, 17x17 and 8x8 grids at strides ~9, ~20, ~43 of a 128x128 input
    # (8.5, 17.6, 37 at 299), so only the stride-2 and stride-4 maps are offered.
    feature_taps=(FeatureTap("stem_conv3_relu", 2), FeatureTap("stem_conv4_relu", 4)),
    reported_top1=78.8,  # 21.2 % top-1 error, single model, single crop (table 3)
    min_input_size=75,
    tags=("heavy",),
)
def InceptionV3(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="inceptionv3", dropout=0.2):
    """Inception-v3, as keras.applications.InceptionV3; 23,851,784 parameters at 299x299 (1000 classes).

    Family arguments:
        dropout: dropout rate before the classifier (0.2, the keep probability 0.8 of the authors' TF-slim
            release; keras.applications uses none).
    """
    return Inception(
        INCEPTION_V3, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
        default_shape=(299, 299, 3), min_size=75, dropout=dropout,
    )
