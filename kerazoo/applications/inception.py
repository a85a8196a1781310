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
- ``googlenet_tv``: torchvision's GoogLeNet, the network its weights (tag ``tv_in1k``) were trained in: BatchNorm
  (with scale, epsilon 1e-3) after every bias-free convolution, 3x3 convolutions in the "5x5" branches (a known
  slip of the replica, kept for its weights), no LRN, ceil-mode max pools (a 2x2 one before stage 5), the 7x7 stem
  convolution padded 3 on every side, dropout 0.2, and ``transform_input`` (see below); 6,624,904 parameters with
  1000 classes, as torchvision's ``googlenet(aux_logits=False)``. torchvision's two auxiliary classifiers are in its
  weights file but used only in training; the converter leaves them out.
- ``inceptionv3_tv``: torchvision's (and timm's) Inception-v3: keras.applications' network with a scaled BatchNorm
  and average pools that count the zero padding (PyTorch's ``count_include_pad``), plus ``transform_input`` and the
  optional auxiliary classifier (``aux_classifiers=True``, torchvision's ``InceptionAux`` on mixed7: 5x5/3 average
  pool, 1x1 conv 128, 5x5 conv 768, global pooling, classifier; a second output for training, at 299x299).
  27,161,264 parameters with the auxiliary classifier, 23,834,568 without, as torchvision's ``inception_v3``.
- ``transform_input`` (torchvision's name): its GoogLeNet and Inception-v3 weights expect inputs in [-1, 1], so a
  first ``stem_transform_input`` layer turns the ImageNet-normalised input ((x / 255 - mean) / std, what the
  ``tv_in1k`` tags' preprocessing gives) into (x / 255 - 0.5) / 0.5, channel by channel, as torchvision does.

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
    """A convolution (kernel ``k`` or ``(rows, cols)``) with ReLU, and BatchNormalization in Inception-v3.

    padding: "same", "valid" or "symmetric" (PyTorch's ``padding=(k - 1) // 2`` on every side, a ZeroPadding2D
    ``{name}_pad`` before a "valid" convolution; it differs from "same" only with a stride).
    """

    filters: int
    kernel_size: int | tuple[int, int]
    strides: int = 1
    padding: str = "same"


@dataclass(frozen=True)
class Pool:
    """Max ("max") or average ("avg") pooling.

    padding: "same", "valid", "ceil" (PyTorch's ``ceil_mode=True`` max pooling: the windows that overhang the
    bottom/right edge are kept, as a zero padding ``{name}_pad``, exact on the non-negative maps after a ReLU) or
    "zeros" (PyTorch's average pooling with ``padding=(size - 1) // 2``, which counts the zeros in the average where
    Keras' "same" leaves them out).
    """

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
    aux_head: str = "googlenet"  # "googlenet" (the paper's, section 5) or "inception_v3" (torchvision's)
    bn_scale: bool = False  # BatchNorm with a learned scale (PyTorch's BatchNorm2d has one; keras.applications' none)


def googlenet_module(b1, b3_reduce, b3, b5_reduce, b5, pool_proj, *, b5_kernel=5):
    """GoogLeNet's module with the columns of the paper's table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
    pool proj (``b5_kernel=3``: torchvision's replica, whose "5x5" branch convolves 3x3)."""
    return (
        (Conv(b1, 1),),
        (Conv(b3_reduce, 1), Conv(b3, 3)),
        (Conv(b5_reduce, 1), Conv(b5, b5_kernel)),
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


_TV = dict(b5_kernel=3)
_MAX_3X3_S2_CEIL = Pool("max", 3, 2, "ceil")

# torchvision's GoogLeNet (a replica of the paper's network, trained by torchvision): BatchNorm after every
# convolution, 3x3 convolutions in the "5x5" branches, ceil-mode max pools, a 2x2 pool before stage 5, no LRN.
GOOGLENET_TV = InceptionSpec(
    stem=(Conv(64, 7, strides=2, padding="symmetric"), _MAX_3X3_S2_CEIL, Conv(64, 1), Conv(192, 3), _MAX_3X3_S2_CEIL),
    stages=(
        Stage((googlenet_module(64, 96, 128, 16, 32, 32, **_TV), googlenet_module(128, 128, 192, 32, 96, 64, **_TV))),
        Stage(
            (
                googlenet_module(192, 96, 208, 16, 48, 64, **_TV),
                googlenet_module(160, 112, 224, 24, 64, 64, **_TV),
                googlenet_module(128, 128, 256, 24, 64, 64, **_TV),
                googlenet_module(112, 144, 288, 32, 64, 64, **_TV),
                googlenet_module(256, 160, 320, 32, 128, 128, **_TV),
            ),
            pool=_MAX_3X3_S2_CEIL,
        ),
        Stage(
            (
                googlenet_module(256, 160, 320, 32, 128, 128, **_TV),
                googlenet_module(384, 192, 384, 48, 128, 128, **_TV),
            ),
            pool=Pool("max", 2, 2, "ceil"),
        ),
    ),
    first_stage=3,
    batch_norm=True,
    bn_scale=True,
)


# Inception-v3's modules, named after the paper's figures 5, 6 and 7 and keras.applications' mixed0 ... mixed10.
# ``pool_padding="zeros"``: torchvision's average pools, which count the zero padding.
def inception_v3_35x35(pool_proj, pool_padding="same"):  # figure 5: mixed0-2
    return (
        (Conv(64, 1),),
        (Conv(48, 1), Conv(64, 5)),
        (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
        (Pool("avg", 3, 1, pool_padding), Conv(pool_proj, 1)),
    )


def inception_v3_17x17(c7, pool_padding="same"):  # figure 6 with n = 7: mixed4-7
    return (
        (Conv(192, 1),),
        (Conv(c7, 1), Conv(c7, (1, 7)), Conv(192, (7, 1))),
        (Conv(c7, 1), Conv(c7, (7, 1)), Conv(c7, (1, 7)), Conv(c7, (7, 1)), Conv(192, (1, 7))),
        (Pool("avg", 3, 1, pool_padding), Conv(192, 1)),
    )


def inception_v3_8x8(pool_padding="same"):  # figure 7: mixed9-10
    expand = Fork(((Conv(384, (1, 3)),), (Conv(384, (3, 1)),)))
    return (
        (Conv(320, 1),),
        (Conv(384, 1), expand),
        (Conv(448, 1), Conv(384, 3), expand),
        (Pool("avg", 3, 1, pool_padding), Conv(192, 1)),
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

INCEPTION_V3_STEM = (
    Conv(32, 3, strides=2, padding="valid"),
    Conv(32, 3, padding="valid"),
    Conv(64, 3),
    Pool("max", 3, 2, "valid"),
    Conv(80, 1, padding="valid"),
    Conv(192, 3, padding="valid"),
    Pool("max", 3, 2, "valid"),
)


def inception_v3_stages(pool_padding="same"):
    return (
        Stage(tuple(inception_v3_35x35(c, pool_padding) for c in (32, 64, 64))),
        Stage((REDUCTION_35_TO_17,) + tuple(inception_v3_17x17(c, pool_padding) for c in (128, 160, 160, 192))),
        Stage((REDUCTION_17_TO_8, inception_v3_8x8(pool_padding), inception_v3_8x8(pool_padding))),
    )


INCEPTION_V3 = InceptionSpec(stem=INCEPTION_V3_STEM, stages=inception_v3_stages(), first_stage=3, batch_norm=True)
# torchvision's (and timm's) Inception-v3: BatchNorm with a scale, average pools that count the zero padding, and
# the auxiliary classifier on mixed7 (Mixed_6e) as an option.
INCEPTION_V3_TV = InceptionSpec(
    stem=INCEPTION_V3_STEM, stages=inception_v3_stages("zeros"), first_stage=3, batch_norm=True, bn_scale=True,
    aux_after=((4, 5),), aux_head="inception_v3",
)


def conv_unit(x, spec: Conv, *, batch_norm: bool, name: str, bn_scale: bool = False):
    """Conv → ReLU (GoogLeNet) or Conv without bias → BatchNormalization (without scale in keras.applications'
    Inception-v3, with one in torchvision's networks) → ReLU."""
    padding = spec.padding
    if padding == "symmetric":
        x, padding = common.symmetric_padding(x, spec.kernel_size, name=f"{name}_pad"), "valid"
    x = keras.layers.Conv2D(
        spec.filters, spec.kernel_size, strides=spec.strides, padding=padding, use_bias=not batch_norm, name=name
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(scale=bn_scale, epsilon=1e-3, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def pool_op(x, spec: Pool, *, name: str):
    layer = keras.layers.MaxPooling2D if spec.kind == "max" else keras.layers.AveragePooling2D
    padding = spec.padding
    if padding == "ceil":
        x, padding = common.ceil_mode_padding(x, spec.size, spec.strides, name=f"{name}_pad"), "valid"
    elif padding == "zeros":
        x, padding = common.symmetric_padding(x, spec.size, name=f"{name}_pad"), "valid"
    return layer(spec.size, strides=spec.strides, padding=padding, name=name)(x)


def apply_ops(x, ops, *, batch_norm: bool, local_response_norm: bool, name: str, bn_scale: bool = False):
    """Apply a sequence of ops, named ``{name}_conv{i}``, ``{name}_pool{i}`` (``{name}_pool`` if only one),
    ``{name}_lrn{i}``, ``{name}_fork{j}_*`` and ``{name}_concat``."""
    counts = {Conv: 0, Pool: 0, LRN: 0}
    pools = sum(isinstance(op, Pool) for op in ops)
    for op in ops:
        if isinstance(op, Fork):
            parts = [
                apply_ops(x, branch, batch_norm=batch_norm, local_response_norm=local_response_norm,
                          name=f"{name}_fork{j}", bn_scale=bn_scale)
                for j, branch in enumerate(op.branches, start=1)
            ]
            x = keras.layers.Concatenate(name=f"{name}_concat")(parts)
            continue
        counts[type(op)] += 1
        i = counts[type(op)]
        if isinstance(op, Conv):
            x = conv_unit(x, op, batch_norm=batch_norm, bn_scale=bn_scale, name=f"{name}_conv{i}")
        elif isinstance(op, Pool):
            x = pool_op(x, op, name=f"{name}_pool{i}" if pools > 1 else f"{name}_pool")
        elif local_response_norm:
            # Caffe's bvlc_googlenet values (local_size 5, alpha 1e-4, beta 0.75, k 1) in the paper's convention.
            x = LocalResponseNormalization(
                depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75, name=f"{name}_lrn{i}"
            )(x)
    return x


def inception_module(x, branches, *, batch_norm: bool, name: str, bn_scale: bool = False):
    outputs = [
        apply_ops(x, ops, batch_norm=batch_norm, local_response_norm=False, name=f"{name}_branch{k}",
                  bn_scale=bn_scale)
        for k, ops in enumerate(branches, start=1)
    ]
    return keras.layers.Concatenate(name=f"{name}_concat")(outputs)


def _arg_error_transform(input_shape) -> ValueError:
    return ValueError(
        "transform_input=True maps ImageNet-normalised RGB channels, so it needs 3 channels. "
        f"Received: input_shape={tuple(input_shape)!r}"
    )


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


def inception_v3_aux_head(x, *, classes: int, classifier_activation, name: str):
    """torchvision's Inception-v3 auxiliary classifier (``InceptionAux``): 5x5/3 average pool, 1x1 conv 128 and 5x5
    conv 768 (each BN-ReLU), global average pooling, the classifier. Used only in training."""
    height, width = x.shape[1:3]
    if height is None or width is None or min(height, width) < 17:
        raise ValueError(
            "aux_classifiers=True needs a fixed input size whose 17x17 grid (mixed7) is at least 17x17 (an input of "
            f"at least 299x299). Received: a {height}x{width} map at {name}."
        )
    x = keras.layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv_unit(x, Conv(128, 1), batch_norm=True, bn_scale=True, name=f"{name}_conv1")
    x = conv_unit(x, Conv(768, 5, padding="valid"), batch_norm=True, bn_scale=True, name=f"{name}_conv2")
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_avg_pool")(x)
    return keras.layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


AUX_HEADS = {"googlenet": googlenet_aux_head, "inception_v3": inception_v3_aux_head}

# torchvision's ``transform_input``: its GoogLeNet and Inception-v3 weights were trained on inputs scaled to [-1, 1]
# (the original TF/Caffe preprocessing), so the model turns an ImageNet-normalised input (x - mean) / std back into
# (x - 0.5) / 0.5, channel by channel: x * std / 0.5 + (mean - 0.5) / 0.5.
_TRANSFORM_SCALE = [0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5]
_TRANSFORM_OFFSET = [(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5]


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
    transform_input: bool = False,
):
    """The generic Inception builder; the registered variants fix ``spec``. ``transform_input``: torchvision's
    input transform (a ``stem_transform_input`` Rescaling layer first; it needs 3 channels)."""
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
    if transform_input and input_shape[-1] != 3:
        raise _arg_error_transform(input_shape)
    inputs = common.model_input(input_tensor, input_shape)
    x = inputs
    if transform_input:
        x = keras.layers.Rescaling(_TRANSFORM_SCALE, offset=_TRANSFORM_OFFSET, name="stem_transform_input")(x)
    x = apply_ops(x, spec.stem, batch_norm=spec.batch_norm, local_response_norm=local_response_norm, name="stem",
                  bn_scale=spec.bn_scale)
    aux_inputs = []
    for s, stage in enumerate(spec.stages, start=spec.first_stage):
        if stage.pool is not None:
            x = pool_op(x, stage.pool, name=f"stage{s}_pool")
        for b, branches in enumerate(stage.modules, start=1):
            x = inception_module(x, branches, batch_norm=spec.batch_norm, bn_scale=spec.bn_scale,
                                 name=f"stage{s}_block{b}")
            if (s, b) in spec.aux_after:
                aux_inputs.append(x)
    outputs = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        dropout=dropout,
    )
    if aux_classifiers:
        outputs = [outputs] + [
            AUX_HEADS[spec.aux_head](a, classes=classes, classifier_activation=classifier_activation, name=f"aux{n}")
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
    reported_top1=None,
    min_input_size=32,
    tags=("heavy",),
    name="googlenet_tv",
)
def GoogLeNet_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", name="googlenet_tv", dropout=0.2, transform_input=True):
    """GoogLeNet as torchvision builds it (BatchNorm, 3x3 "5x5" branches, ceil-mode pools; module docstring), the
    variant torchvision's ``googlenet`` weights load into; 6,624,904 parameters (1000 classes).

    Family arguments:
        dropout: dropout rate before the classifier (torchvision: 0.2).
        transform_input: first map the ImageNet-normalised input to [-1, 1], as torchvision does for these
            weights (default True; needs 3 channels).
    """
    return Inception(
        GOOGLENET_TV, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
        default_shape=(224, 224, 3), min_size=32, dropout=dropout, transform_input=transform_input,
    )


@register_model(
    family="inception",
    paper=INCEPTION_V3_PAPER,
    year=2016,
    input_shape=(299, 299, 3),
    feature_taps=(FeatureTap("stem_conv3_relu", 2), FeatureTap("stem_conv4_relu", 4)),
    reported_top1=78.8,
    min_input_size=75,
    tags=("heavy",),
    name="inceptionv3_tv",
)
def InceptionV3_TV(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                   classes=1000, classifier_activation="softmax", name="inceptionv3_tv", dropout=0.5,
                   transform_input=True, aux_classifiers=False):
    """Inception-v3 as torchvision and timm build it (scaled BatchNorm, zero-counting average pools; module
    docstring), the variant their weights load into; 23,834,568 parameters at 299x299 (1000 classes).

    Family arguments:
        dropout: dropout rate before the classifier (torchvision: 0.5).
        transform_input: first map the ImageNet-normalised input to [-1, 1], as torchvision does for its weights
            (default True; needs 3 channels). timm's weights are trained without it (their tags say so).
        aux_classifiers: add torchvision's auxiliary classifier on mixed7 (default False): the model then has two
            outputs [main, aux] (layers "predictions" and "aux1_predictions") for training (use only the first at
            inference), and needs include_top=True and a 299x299 input. It adds 3,326,696 parameters.
    """
    return Inception(
        INCEPTION_V3_TV, include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
        default_shape=(299, 299, 3), min_size=75, dropout=dropout, transform_input=transform_input,
        aux_classifiers=aux_classifiers,
    )
