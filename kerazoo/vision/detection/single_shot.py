"""Single-shot detectors on any zoo backbone: RetinaNet (Lin et al., 2017) and SSD (Liu et al., 2016).

    model = create_model("retinanet", backbone="resnet20", input_shape=(96, 96, 1), classes=10)
    out = model(images)   # {"boxes": [B, N, 4] "xyxy" pixels, one per anchor; "scores": [B, N, C] (sigmoid)}

One network, two recipes:

- ``retinanet``: a feature pyramid (top-down path with lateral 1x1 convolutions), class and box subnets shared by
  all levels, sigmoid classes trained with the focal loss.
- ``ssd``: each level's backbone features feed the (shared) heads directly, and the classes are trained with
  hard-negative mining (3 negatives per positive) instead of the focal loss.

Both place ``scales x aspect_ratios`` anchors on every cell of each level (``anchor_levels`` strides). Levels deeper
than the backbone's deepest tap are made by stride-2 convolutions (RetinaNet's P6/P7). The model ends in a
``BoxDecoder`` that holds the anchors, so a saved model decodes its own boxes; non-max suppression is a
post-processing step (``kerazoo.vision.detection.postprocess.detect``) that evaluation, ``predict`` and the exported
SavedModel run on the model's outputs.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from kerazoo.applications.registry import register_model
from kerazoo.vision.detection.anchors import AnchorSpec
from kerazoo.vision.detection.boxes import BoxDecoder, encode_boxes, match_anchors
from kerazoo.vision.backbone import image_input
from kerazoo.vision.segmentation import HEAD_ARGS_DOC, head_model
from kerazoo.vision.detection.features import pyramid_levels

__all__ = ["RetinaNet", "SSD", "single_shot_detector", "SingleShotLoss"]

PRIOR_PROBABILITY = 0.01
"""Initial foreground probability of every anchor (RetinaNet's prior), so training starts without a loss spike."""


def _head(levels: dict, *, filters: int, depth: int, outputs_per_anchor: int, anchors_per_cell: int, prefix: str,
          bias_initializer="zeros"):
    """A subnet shared by all levels: ``depth`` 3x3 conv + ReLU, then a 3x3 conv to A x outputs; flattened and
    concatenated over levels to [B, N, outputs_per_anchor]."""
    convs = [layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{prefix}_conv{i + 1}")
             for i in range(depth)]
    final = layers.Conv2D(anchors_per_cell * outputs_per_anchor, 3, padding="same", name=f"{prefix}_out",
                          bias_initializer=bias_initializer)
    flat = []
    for stride, x in levels.items():
        for conv in convs:
            x = conv(x)
        x = final(x)
        flat.append(layers.Reshape((-1, outputs_per_anchor), name=f"{prefix}_flatten_s{stride}")(x))
    return layers.Concatenate(axis=1, name=f"{prefix}_concat")(flat) if len(flat) > 1 else flat[0]


def single_shot_detector(
    *,
    backbone: str,
    classes: int,
    input_shape,
    input_tensor,
    weights,
    backbone_kwargs,
    name: str,
    anchor_levels,
    anchor_sizes,
    width: int,
    head_depth: int,
    feature_pyramid: bool,
    scales=(1.0, 2 ** (1 / 3), 2 ** (2 / 3)),
    aspect_ratios=(0.5, 1.0, 2.0),
) -> keras.Model:
    """The shared builder of ``retinanet`` and ``ssd`` (see the module docstring)."""
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"Invalid classes: expected a positive integer. Received: classes={classes!r}")
    if len(anchor_sizes) != len(anchor_levels):
        raise ValueError(f"Invalid anchor_sizes: expected one size per level of anchor_levels={list(anchor_levels)}. "
                         f"Received: anchor_sizes={list(anchor_sizes)}")
    inputs, x = image_input(input_shape or INPUT_SHAPE, input_tensor)
    levels = pyramid_levels(backbone, x, anchor_levels, width=width, top_down=feature_pyramid,
                            backbone_kwargs=backbone_kwargs)
    spec = AnchorSpec(
        image_size=tuple(x.shape[1:3]),
        feature_sizes=tuple(tuple(level.shape[1:3]) for level in levels.values()),
        sizes=tuple(float(s) for s in anchor_sizes), scales=tuple(scales), aspect_ratios=tuple(aspect_ratios),
    )
    prior = keras.initializers.Constant(-math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY))
    class_logits = _head(levels, filters=width, depth=head_depth, outputs_per_anchor=classes,
                         anchors_per_cell=spec.per_cell, prefix="class_head", bias_initializer=prior)
    deltas = _head(levels, filters=width, depth=head_depth, outputs_per_anchor=4, anchors_per_cell=spec.per_cell,
                   prefix="box_head")
    class_logits = layers.Identity(name="class_logits")(class_logits)
    deltas = layers.Identity(name="box_deltas")(deltas)
    boxes = BoxDecoder(spec.to_config(), name="boxes")(deltas)
    scores = layers.Activation("sigmoid", name="scores")(class_logits)
    return head_model(inputs, {"boxes": boxes, "scores": scores}, name=name, weights=weights)


INPUT_SHAPE = (96, 96, 1)
_META = dict(input_shape=INPUT_SHAPE, dataset="fashion_mnist_scenes", task="detection")
FAMILY_ARGS_DOC = """
    Family arguments:
        anchor_levels: strides of the feature levels that carry anchors; levels deeper than the backbone's deepest
            tap are added by stride-2 convolutions. Default (8, 16).
        anchor_sizes: base anchor side in pixels per level (x 2^0, 2^(1/3), 2^(2/3); height/width 0.5, 1, 2).
            Default (16, 32), for the scenes' 17-39 pixel items.
        width: channels of the levels and of the heads. Default 64.
        head_depth: 3x3 convolutions of each head before its output layer. Default 2.
"""


@register_model(family="retinanet", paper="Lin et al., Focal Loss for Dense Object Detection", year=2017,
                name="retinanet", **_META)
def RetinaNet(*, backbone="resnet20", classes=10, input_shape=None, input_tensor=None, weights=None,
              backbone_kwargs=None, name="retinanet", anchor_levels=(8, 16), anchor_sizes=(16.0, 32.0), width=64,
              head_depth=2):
    """RetinaNet: a feature pyramid and class/box subnets shared by its levels, trained with the focal loss.

    Outputs {"boxes": [B, N, 4] "xyxy" pixels, "scores": [B, N, classes] sigmoid probabilities} for the N anchors.
    """
    return single_shot_detector(backbone=backbone, classes=classes, input_shape=input_shape,
                                input_tensor=input_tensor, weights=weights, backbone_kwargs=backbone_kwargs,
                                name=name, anchor_levels=anchor_levels, anchor_sizes=anchor_sizes, width=width,
                                head_depth=head_depth, feature_pyramid=True)


@register_model(family="ssd", paper="Liu et al., SSD: Single Shot MultiBox Detector", year=2016, name="ssd", **_META)
def SSD(*, backbone="resnet20", classes=10, input_shape=None, input_tensor=None, weights=None, backbone_kwargs=None,
        name="ssd", anchor_levels=(8, 16), anchor_sizes=(16.0, 32.0), width=64, head_depth=2):
    """SSD: heads on each level's own backbone features (no top-down path), trained with hard-negative mining.

    Outputs {"boxes": [B, N, 4] "xyxy" pixels, "scores": [B, N, classes] sigmoid probabilities} for the N anchors.
    """
    return single_shot_detector(backbone=backbone, classes=classes, input_shape=input_shape,
                                input_tensor=input_tensor, weights=weights, backbone_kwargs=backbone_kwargs,
                                name=name, anchor_levels=anchor_levels, anchor_sizes=anchor_sizes, width=width,
                                head_depth=head_depth, feature_pyramid=False)


for _builder in (RetinaNet, SSD):
    _builder.__doc__ = (_builder.__doc__.split("\n    Standard arguments")[0] + "\n" + FAMILY_ARGS_DOC
                        + HEAD_ARGS_DOC.replace("number of mask classes, background included (Fashion-MNIST "
                                                "scenes: 11)", "number of object classes (no background class)"))


@keras.saving.register_keras_serializable(package="kerazoo")
class SingleShotLoss(keras.losses.Loss):
    """Multi-task loss of a single-shot detector: classification + smooth-L1 box loss, per positive anchor.

    ``y_true`` is [B, M, 5] ground truth (x1, y1, x2, y2, class; padding rows -1); ``y_pred`` is [B, N, 4 + C]: the
    box deltas and class logits of the N anchors. Anchors are matched to objects by IoU (``match_anchors``).

    Args:
        anchors: [N, 4] the detector's anchors (``boxes.anchors_of(model)``).
        classification: "focal" (RetinaNet) or "hard_negative" (SSD: sigmoid cross-entropy on the positives and the
            3 x as many hardest negatives).
        box_weight: weight of the box loss.
    """

    def __init__(self, anchors, *, classification="focal", box_weight=1.0, positive_iou=0.5, negative_iou=0.4,
                 name="single_shot_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if classification not in ("focal", "hard_negative"):
            raise ValueError(f"Invalid classification: expected 'focal' or 'hard_negative'. "
                             f"Received: classification={classification!r}")
        self.anchors = ops.convert_to_numpy(anchors).astype("float32")
        self.classification, self.box_weight = classification, float(box_weight)
        self.positive_iou, self.negative_iou = float(positive_iou), float(negative_iou)

    def call(self, y_true, y_pred):
        from kerazoo.losses.detection import hard_negative_mask, sigmoid_focal, smooth_l1

        anchors = ops.convert_to_tensor(self.anchors)
        deltas, logits = y_pred[..., :4], y_pred[..., 4:]
        boxes, classes, positive, negative = match_anchors(
            anchors, y_true[..., :4], ops.cast(y_true[..., 4], "int32"), positive_iou=self.positive_iou,
            negative_iou=self.negative_iou,
        )
        targets = ops.one_hot(ops.where(positive, classes, -1), logits.shape[-1])  # background: all zeros
        positive_f = ops.cast(positive, "float32")
        count = ops.maximum(ops.sum(positive_f, axis=-1), 1.0)  # [B]
        if self.classification == "focal":
            class_loss = sigmoid_focal(targets, logits)
            used = ops.logical_or(positive, negative)
        else:
            class_loss = keras.losses.binary_crossentropy(targets, logits, from_logits=True) * logits.shape[-1]
            used = hard_negative_mask(ops.stop_gradient(class_loss), positive, negative)
        class_loss = ops.sum(class_loss * ops.cast(used, "float32"), axis=-1) / count
        box_loss = smooth_l1(encode_boxes(anchors, boxes), deltas)
        box_loss = ops.sum(box_loss * positive_f, axis=-1) / count
        return class_loss + self.box_weight * box_loss

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors.tolist(), "classification": self.classification,
                "box_weight": self.box_weight, "positive_iou": self.positive_iou, "negative_iou": self.negative_iou}
