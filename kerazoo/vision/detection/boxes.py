"""Box encoding, decoding and anchor matching, on ``keras.utils.bounding_boxes`` and ``keras.ops``.

Keras provides the IoU table (``compute_iou``), format conversion and the delta encoding of Faster R-CNN
(``encode_box_to_deltas`` / ``decode_deltas_to_boxes``: centre offsets in anchor widths, log size ratios). Written
here is what it lacks: SSD's variances as one constant, a cap on the size deltas before ``exp`` (Detectron's
``log(1000 / 16)``), the matcher (KerasHub's ``BoxMatcher`` is not in this stack), and a layer that turns a
head's deltas into boxes inside the model, so the saved model carries its anchors.

Boxes are "xyxy" absolute pixels everywhere; padding rows of ground truth are all -1 (classes -1).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops
from keras.utils import bounding_boxes

from kerazoo.vision.detection.anchors import AnchorSpec, generate_anchors

__all__ = ["BOX_VARIANCE", "encode_boxes", "decode_boxes", "match_anchors", "match_objects", "BoxDecoder", "anchors_of"]

BOX_VARIANCE = (0.1, 0.1, 0.2, 0.2)
"""Deltas are divided by these (SSD, Liu et al., 2016), so the regression targets have roughly unit scale."""
MAX_LOG_SIZE_DELTA = math.log(1000.0 / 16)
"""Largest log size ratio ``decode_boxes`` applies, so an untrained head cannot overflow ``exp``."""


def encode_boxes(anchors, boxes):
    """Deltas [..., N, 4] (centre x, centre y, log w, log h; divided by ``BOX_VARIANCE``) of ``boxes`` to ``anchors``."""
    return bounding_boxes.encode_box_to_deltas(
        anchors, boxes, anchor_format="xyxy", box_format="xyxy", encoding_format="center_xywh",
        variance=BOX_VARIANCE,
    )


def decode_boxes(anchors, deltas, image_size=None):
    """Inverse of ``encode_boxes``: "xyxy" boxes from deltas, clipped to ``image_size`` (height, width) if given."""
    deltas = ops.convert_to_tensor(deltas)
    limit = MAX_LOG_SIZE_DELTA / BOX_VARIANCE[2]
    deltas = ops.concatenate([deltas[..., :2], ops.minimum(deltas[..., 2:], limit)], axis=-1)
    boxes = bounding_boxes.decode_deltas_to_boxes(
        anchors, deltas, anchor_format="xyxy", box_format="xyxy", encoded_format="center_xywh",
        variance=BOX_VARIANCE,
    )
    if image_size is None:
        return boxes
    height, width = image_size
    upper = ops.convert_to_tensor([width, height, width, height], boxes.dtype)
    return ops.clip(boxes, 0.0, upper)


def match_anchors(anchors, gt_boxes, gt_classes, *, positive_iou=0.5, negative_iou=0.4, low_quality=True):
    """Assign each anchor an object, background, or neither, by IoU (Ren et al., 2015; Lin et al., 2017).

    An anchor whose best IoU with an object is >= ``positive_iou`` is positive for that object; below
    ``negative_iou`` it is background; in between it is ignored. With ``low_quality``, each object's best anchor is
    also positive for it, so no object goes unmatched (Faster R-CNN's second rule).

    Args:
        anchors: [N, 4] "xyxy", or [B, N, 4] (per-image candidates such as region proposals).
        gt_boxes: [B, M, 4] "xyxy", padding rows all -1.
        gt_classes: [B, M] int, padding -1.

    Returns:
        (matched_boxes [B, N, 4], matched_classes [B, N] int32, positive [B, N] bool, negative [B, N] bool).
    """
    return match_objects(anchors, gt_boxes, gt_classes, positive_iou=positive_iou, negative_iou=negative_iou,
                         low_quality=low_quality)[:4]


def match_objects(anchors, gt_boxes, gt_classes, *, positive_iou=0.5, negative_iou=0.4, low_quality=True):
    """``match_anchors`` plus the index [B, N] of each anchor's best object (to pick its mask, say)."""
    if not 0.0 <= negative_iou <= positive_iou <= 1.0:
        raise ValueError(
            "Invalid IoU thresholds: expected 0 <= negative_iou <= positive_iou <= 1. "
            f"Received: negative_iou={negative_iou!r}, positive_iou={positive_iou!r}"
        )
    gt_boxes = ops.cast(gt_boxes, "float32")
    gt_classes = ops.cast(gt_classes, "int32")
    valid = gt_classes >= 0  # [B, M]
    iou = bounding_boxes.compute_iou(anchors, gt_boxes, "xyxy")  # [B, N, M]
    iou = ops.where(valid[:, None, :], iou, -1.0)
    if low_quality:
        # +2 on each object's best anchor makes it that anchor's best object and pushes it over any threshold
        best_anchor = ops.argmax(iou, axis=1)  # [B, M]
        is_best = ops.one_hot(best_anchor, ops.shape(iou)[1], axis=1)  # [B, N, M]
        iou = iou + 2.0 * is_best * ops.cast(valid[:, None, :], iou.dtype)
    best_iou = ops.max(iou, axis=-1)  # [B, N]
    best_object = ops.argmax(iou, axis=-1)  # [B, N]
    matched_boxes = ops.take_along_axis(gt_boxes, best_object[..., None], axis=1)
    matched_classes = ops.take_along_axis(gt_classes, best_object, axis=1)
    positive = best_iou >= positive_iou
    negative = ops.logical_and(best_iou < negative_iou, ops.logical_not(positive))
    return matched_boxes, matched_classes, positive, negative, best_object


@keras.saving.register_keras_serializable(package="kerazoo")
class BoxDecoder(keras.layers.Layer):
    """Box deltas [B, N, 4] → "xyxy" pixel boxes [B, N, 4] against the anchors of ``anchor_spec``.

    The detector's last layer: the saved model holds its anchor configuration, so evaluation, export and serving
    decode with exactly the anchors it was trained with (``self.anchors``).
    """

    def __init__(self, anchor_spec: dict, **kwargs):
        super().__init__(**kwargs)
        self.anchor_spec = AnchorSpec.from_config(anchor_spec) if isinstance(anchor_spec, dict) else anchor_spec
        self.anchors = generate_anchors(self.anchor_spec)

    def call(self, deltas):
        anchors = ops.convert_to_tensor(self.anchors, deltas.dtype)
        return decode_boxes(anchors, deltas, self.anchor_spec.image_size)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "anchor_spec": self.anchor_spec.to_config()}


def anchors_of(model: keras.Model) -> np.ndarray:
    """The anchors [N, 4] of a detector built here (held by its ``BoxDecoder`` layer)."""
    for layer in model.layers:
        if isinstance(layer, BoxDecoder):
            return layer.anchors
    raise ValueError(f"Model {model.name!r} has no BoxDecoder layer, so it is not a kerazoo single-shot detector.")
