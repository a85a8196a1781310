"""Two-stage detectors on any zoo backbone: Faster R-CNN (Ren et al., 2015) and Mask R-CNN (He et al., 2017).

    model = create_model("faster_rcnn", backbone="resnet20", input_shape=(96, 96, 1), classes=10)
    out = model(images)   # {"boxes": [B, R, 4] "xyxy", "scores": [B, R, C]} for R region proposals
    # mask_rcnn adds "masks": [B, R, S, S, C] (sigmoid, one mask per class, in each box; S = mask_size, 28)

Stage one, the region proposal network (RPN): a 3x3 convolution on one feature level, then per anchor an objectness
logit and box deltas; the decoded boxes with the best objectness go through greedy NMS (``greedy_nms``, keras.ops)
and the ``proposals`` best survivors are the regions. Stage two: RoI-Align crops each region's features to 7x7,
two fully connected layers feed a class head (sigmoid per class, RetinaNet-style, so background is "no class") and a
class-agnostic box refinement. Mask R-CNN adds a small fully convolutional head on 14x14 RoI-Align crops of the
refined boxes, upsampled to 28x28 masks (``mask_size``). As in the paper, the mask head trains on positive regions
only (at most ``MASK_REGIONS`` per image): it is most of the training step's arithmetic, and the other regions add
nothing to the mask loss.

Simplifications, for 96x96 scenes on a CPU: one feature level (no FPN), no ground-truth boxes added to the proposals
during training, and class-agnostic box refinement.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from kerazoo.applications.registry import register_model
from kerazoo.vision.backbone import image_input
from kerazoo.vision.detection.anchors import AnchorSpec
from kerazoo.vision.detection.boxes import BoxDecoder, decode_boxes, encode_boxes, match_anchors, match_objects
from kerazoo.vision.detection.features import pyramid_levels
from kerazoo.vision.detection.postprocess import greedy_nms
from kerazoo.vision.detection.roi_align import RoIAlign, roi_align
from kerazoo.vision.segmentation import HEAD_ARGS_DOC, head_model

__all__ = ["FasterRCNN", "MaskRCNN", "ProposalLayer", "RefineBoxes", "TwoStageTrainer", "two_stage_loss"]

INPUT_SHAPE = (96, 96, 1)
PRIOR = keras.initializers.Constant(-math.log(99.0))  # foreground probability 0.01 at the start
MASK_HEAD = ("mask_roi_align", "mask_head_conv1", "mask_head_conv2", "mask_head_upsample", "mask_logits")
"""Mask R-CNN's mask head, in order: [features, boxes [B, R, 4]] → mask logits [B, R, S, S, classes]."""
MASK_REGIONS = 8
"""Regions per image the mask head trains on: positives first (a scene has at most 6 objects; the paper samples 25 %
of its regions as positives, here 8 of 32)."""


@keras.saving.register_keras_serializable(package="kerazoo")
class ProposalLayer(layers.Layer):
    """RPN boxes [B, N, 4] and objectness logits [B, N, 1] → the ``proposals`` best boxes after NMS [B, P, 4].

    Takes the ``pre_nms`` highest-scoring boxes, suppresses overlaps above ``iou_threshold`` (greedy, keras.ops) and
    keeps the best ``proposals``. No gradient flows into the proposals (as in Faster R-CNN's approximate training).
    """

    def __init__(self, proposals=32, pre_nms=256, iou_threshold=0.7, **kwargs):
        super().__init__(**kwargs)
        self.proposals, self.pre_nms, self.iou_threshold = int(proposals), int(pre_nms), float(iou_threshold)

    def call(self, inputs):
        boxes, logits = inputs
        boxes, scores = ops.stop_gradient(boxes), ops.stop_gradient(logits[..., 0])
        top_scores, top = ops.top_k(scores, min(self.pre_nms, boxes.shape[1]), sorted=True)
        top_boxes = ops.take_along_axis(boxes, top[..., None], axis=1)
        kept, _ = greedy_nms(top_boxes, top_scores, max_outputs=self.proposals, iou_threshold=self.iou_threshold)
        return kept

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.proposals, 4)

    def get_config(self):
        return {**super().get_config(), "proposals": self.proposals, "pre_nms": self.pre_nms,
                "iou_threshold": self.iou_threshold}


@keras.saving.register_keras_serializable(package="kerazoo")
class RefineBoxes(layers.Layer):
    """Second-stage deltas [B, P, 4] applied to the proposals [B, P, 4] → "xyxy" boxes clipped to the image."""

    def __init__(self, image_size, **kwargs):
        super().__init__(**kwargs)
        self.image_size = tuple(int(s) for s in image_size)

    def call(self, inputs):
        proposals, deltas = inputs
        return decode_boxes(ops.stop_gradient(proposals), deltas, self.image_size)

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])

    def get_config(self):
        return {**super().get_config(), "image_size": list(self.image_size)}


def two_stage_detector(*, backbone, classes, input_shape, input_tensor, weights, backbone_kwargs, name,
                       level, anchor_size, width, proposals, fc_units, mask_size=None) -> keras.Model:
    """The shared builder of ``faster_rcnn`` and ``mask_rcnn`` (see the module docstring)."""
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"Invalid classes: expected a positive integer. Received: classes={classes!r}")
    inputs, x = image_input(input_shape or INPUT_SHAPE, input_tensor)
    features = pyramid_levels(backbone, x, (level,), width=width, top_down=False, backbone_kwargs=backbone_kwargs)
    features = features[level]
    image_size = tuple(x.shape[1:3])
    stride = image_size[0] / features.shape[1]
    spec = AnchorSpec(image_size=image_size, feature_sizes=(tuple(features.shape[1:3]),), sizes=(float(anchor_size),),
                      scales=(1.0, 1.5, 2.25))
    rpn = layers.Conv2D(width, 3, padding="same", activation="relu", name="rpn_conv")(features)
    objectness = layers.Conv2D(spec.per_cell, 1, name="rpn_objectness", bias_initializer=PRIOR)(rpn)
    objectness = layers.Reshape((-1, 1), name="rpn_logits")(objectness)
    rpn_deltas = layers.Reshape((-1, 4), name="rpn_deltas")(layers.Conv2D(spec.per_cell * 4, 1, name="rpn_box")(rpn))
    rpn_boxes = BoxDecoder(spec.to_config(), name="rpn_boxes")(rpn_deltas)
    regions = ProposalLayer(proposals, name="proposals")([rpn_boxes, objectness])

    crops = RoIAlign(7, 2, stride, name="roi_align")([features, regions])  # [B, P, 7, 7, width]
    hidden = layers.Reshape((proposals, 7 * 7 * width), name="roi_flatten")(crops)
    hidden = layers.Dense(fc_units, activation="relu", name="box_head_fc1")(hidden)
    hidden = layers.Dense(fc_units, activation="relu", name="box_head_fc2")(hidden)
    class_logits = layers.Dense(classes, name="class_logits", bias_initializer=PRIOR)(hidden)
    deltas = layers.Dense(4, name="box_deltas", kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))(hidden)
    boxes = RefineBoxes(image_size, name="boxes")([regions, deltas])
    outputs = {"boxes": boxes, "scores": layers.Activation("sigmoid", name="scores")(class_logits)}
    if mask_size:
        if not isinstance(mask_size, int) or mask_size < 2 or mask_size % 2:
            raise ValueError(f"Invalid mask_size: expected an even integer >= 2. Received: mask_size={mask_size!r}")
        m = RoIAlign(mask_size // 2, 2, stride, name=MASK_HEAD[0])([features, boxes])
        for name in MASK_HEAD[1:3]:
            m = layers.TimeDistributed(layers.Conv2D(width, 3, padding="same", activation="relu"), name=name)(m)
        m = layers.TimeDistributed(layers.Conv2DTranspose(width, 2, strides=2, activation="relu"),
                                   name=MASK_HEAD[3])(m)
        mask_logits = layers.TimeDistributed(layers.Conv2D(classes, 1), name=MASK_HEAD[4])(m)
        outputs["masks"] = layers.Activation("sigmoid", name="masks")(mask_logits)
    return head_model(inputs, outputs, name=name, weights=weights)


_META = dict(input_shape=INPUT_SHAPE, dataset="fashion_mnist_scenes", task="detection")
FAMILY_ARGS_DOC = """
    Family arguments:
        level: stride of the one feature level the RPN and the RoI heads use. Default 8.
        anchor_size: smallest RPN anchor side in pixels (x 1, 1.5, 2.25; height/width 0.5, 1, 2). Default 16.
        width: channels of the level, the RPN and the mask head. Default 64.
        proposals: regions per image kept after NMS. Default 32.
        fc_units: units of the box head's two fully connected layers. Default 128.
"""


@register_model(family="faster_rcnn", paper="Ren et al., Faster R-CNN: Towards Real-Time Object Detection with "
                "Region Proposal Networks", year=2015, name="faster_rcnn", **_META)
def FasterRCNN(*, backbone="resnet20", classes=10, input_shape=None, input_tensor=None, weights=None,
               backbone_kwargs=None, name="faster_rcnn", level=8, anchor_size=16.0, width=64, proposals=32,
               fc_units=128):
    """Faster R-CNN: region proposal network, RoI-Align, box/class head.

    Outputs {"boxes": [B, P, 4] "xyxy" pixels, "scores": [B, P, classes]} for the P proposals.
    """
    return two_stage_detector(backbone=backbone, classes=classes, input_shape=input_shape, input_tensor=input_tensor,
                              weights=weights, backbone_kwargs=backbone_kwargs, name=name, level=level,
                              anchor_size=anchor_size, width=width, proposals=proposals, fc_units=fc_units)


@register_model(family="mask_rcnn", paper="He et al., Mask R-CNN", year=2017, name="mask_rcnn", **_META)
def MaskRCNN(*, backbone="resnet20", classes=10, input_shape=None, input_tensor=None, weights=None,
             backbone_kwargs=None, name="mask_rcnn", level=8, anchor_size=16.0, width=64, proposals=32,
             fc_units=128, mask_size=28):
    """Mask R-CNN: Faster R-CNN plus a mask head (mask_size x mask_size per class) on each refined box.

    Outputs {"boxes", "scores", "masks": [B, P, mask_size, mask_size, classes]} for the P proposals.

    mask_size: side of the predicted masks, from RoI-Align crops of half that side; even. Default 28 (the paper's);
        14 costs about a quarter of the mask head's arithmetic.
    """
    return two_stage_detector(backbone=backbone, classes=classes, input_shape=input_shape, input_tensor=input_tensor,
                              weights=weights, backbone_kwargs=backbone_kwargs, name=name, level=level,
                              anchor_size=anchor_size, width=width, proposals=proposals, fc_units=fc_units,
                              mask_size=mask_size)


for _builder in (FasterRCNN, MaskRCNN):
    _builder.__doc__ = (_builder.__doc__.split("\n    Standard arguments")[0] + "\n" + FAMILY_ARGS_DOC
                        + HEAD_ARGS_DOC.replace("number of mask classes, background included (Fashion-MNIST "
                                                "scenes: 11)", "number of object classes (no background class)"))

TRAINING_OUTPUTS = ("rpn_deltas", "rpn_logits", "proposals", "box_deltas", "class_logits", "boxes")


class TwoStageTrainer(keras.Model):
    """What ``fit`` runs for a two-stage detector: the detector's inner outputs, and ``two_stage_loss`` on them.

    ``y`` is the packed ground truth [B, M, 5], or for Mask R-CNN {"objects": [B, M, 5], "masks": [B, M, H, W]}.
    """

    def __init__(self, detector: keras.Model, anchors, **kwargs):
        super().__init__(name=f"{detector.name}_trainer", **kwargs)
        outputs = {n: detector.get_layer(n).output for n in TRAINING_OUTPUTS}
        self.mask_head = None
        if "masks" in detector.output:
            # The mask head runs in the loss, on the positive regions only (see the module docstring).
            outputs["mask_features"] = detector.get_layer(MASK_HEAD[0]).input[0]
            self.mask_head = [detector.get_layer(n) for n in MASK_HEAD]
        self.network = keras.Model(detector.inputs, outputs, name=f"{detector.name}_training_outputs")
        self.anchors = anchors

    def call(self, images, training=False):
        return self.network(images, training=training)

    def get_layer(self, name=None, index=None):
        """The detector's layers by name (e.g. its ``backbone``, which transfer learning freezes)."""
        return self.network.get_layer(name, index)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        objects, masks = (y["objects"], y["masks"]) if isinstance(y, dict) else (y, None)
        return two_stage_loss(self.anchors, objects, y_pred, masks, self._mask_logits)

    def _mask_logits(self, features, boxes):
        m = self.mask_head[0]([features, boxes])
        for layer in self.mask_head[1:]:
            m = layer(m)
        return m


def _rpn_loss(anchors, gt_boxes, gt_classes, out):
    from kerazoo.losses.detection import hard_negative_mask, smooth_l1

    boxes, _, positive, negative = match_anchors(anchors, gt_boxes, gt_classes, positive_iou=0.7, negative_iou=0.3)
    count = ops.maximum(ops.sum(ops.cast(positive, "float32"), axis=-1), 1.0)
    objectness = keras.losses.binary_crossentropy(ops.cast(positive, "float32")[..., None], out["rpn_logits"],
                                                  from_logits=True)
    used = hard_negative_mask(ops.stop_gradient(objectness), positive, negative)
    class_loss = ops.sum(objectness * ops.cast(used, "float32"), axis=-1) / count
    box_loss = ops.sum(smooth_l1(encode_boxes(anchors, boxes), out["rpn_deltas"]) * ops.cast(positive, "float32"),
                       axis=-1) / count
    return class_loss + box_loss


def two_stage_loss(anchors, y_true, out: dict, masks=None, mask_logits=None):
    """RPN loss (objectness with hard negatives, smooth-L1) + box-head loss (sigmoid cross-entropy over classes,
    smooth-L1 on proposals with IoU >= 0.5) + for Mask R-CNN the mean per-pixel cross-entropy of the object's class
    mask on up to ``MASK_REGIONS`` positive proposals per image (targets: the object's mask RoI-Aligned to the refined
    box; ``mask_logits(out["mask_features"], boxes [B, K, 4])`` runs the mask head). Mean over the batch."""
    from kerazoo.losses.detection import smooth_l1

    gt_boxes, gt_classes = y_true[..., :4], ops.cast(y_true[..., 4], "int32")
    loss = _rpn_loss(ops.convert_to_tensor(anchors), gt_boxes, gt_classes, out)
    proposals = out["proposals"]
    boxes, classes, positive, _, index = match_objects(proposals, gt_boxes, gt_classes, positive_iou=0.5,
                                                       negative_iou=0.5, low_quality=False)
    positive_f = ops.cast(positive, "float32")
    count = ops.maximum(ops.sum(positive_f, axis=-1), 1.0)
    logits = out["class_logits"]
    targets = ops.one_hot(ops.where(positive, classes, -1), logits.shape[-1])
    loss += ops.mean(keras.losses.binary_crossentropy(targets, logits, from_logits=True), axis=-1) * logits.shape[-1]
    loss += ops.sum(smooth_l1(encode_boxes(proposals, boxes), out["box_deltas"]) * positive_f, axis=-1) / count
    if masks is not None:
        _, chosen = ops.top_k(positive_f, min(MASK_REGIONS, positive_f.shape[1]))  # [B, K]: positives first
        positive_f, index, classes = (ops.take_along_axis(t, chosen, axis=1) for t in (positive_f, index, classes))
        boxes = ops.take_along_axis(out["boxes"], chosen[..., None], axis=1)
        mask_logits = mask_logits(out["mask_features"], boxes)  # [B, K, S, S, C]
        crops = roi_align(ops.transpose(ops.cast(masks, "float32"), (0, 2, 3, 1)), boxes,
                          output_size=mask_logits.shape[2], sampling_ratio=2)  # [B, K, S, S, M]: every object's mask
        mask_targets = ops.sum(crops * ops.one_hot(index, crops.shape[-1])[:, :, None, None, :], axis=-1)
        class_masks = ops.sum(mask_logits * ops.one_hot(classes, logits.shape[-1])[:, :, None, None, :], -1)
        pixel_loss = keras.losses.binary_crossentropy(ops.cast(mask_targets >= 0.5, "float32")[..., None],
                                                      class_masks[..., None], from_logits=True)
        loss += ops.sum(ops.mean(pixel_loss, axis=(2, 3)) * positive_f, axis=-1) / ops.maximum(
            ops.sum(positive_f, axis=-1), 1.0)
    return ops.mean(loss)
