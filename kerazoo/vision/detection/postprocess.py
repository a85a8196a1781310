"""Non-max suppression and the detector outputs of the TF Object Detection API.

Two NMS flavours, for two places:

- ``detect`` (TensorFlow): per-class NMS over a batch with ``tf.image.combined_non_max_suppression``; fixed-size,
  padded outputs in a graph that the SavedModel carries. It returns the TF Object Detection API signature that TF
  Serving users know: ``detection_boxes`` [B, K, 4] normalized (ymin, xmin, ymax, xmax), ``detection_scores`` [B, K],
  ``detection_classes`` [B, K] (float, 1-based label-map ids: class c of the dataset is c + 1),
  ``num_detections`` [B] (float). Evaluation, ``predict`` and export all use it.
- ``greedy_nms`` (``keras.ops``): class-agnostic greedy NMS of a fixed number of boxes per image, for the region
  proposals *inside* the two-stage models, which must run on any Keras backend (``keras.ops`` has no NMS).
"""

from __future__ import annotations

from keras import ops
from keras.utils import bounding_boxes

__all__ = ["detect", "greedy_nms", "to_pixel_detections", "detection_masks", "paste_masks"]


def detect(boxes, scores, *, image_size, max_detections=100, iou_threshold=0.5, score_threshold=0.05):
    """Per-class NMS of a batch → the TF Object Detection API outputs (see the module docstring).

    Args:
        boxes: [B, N, 4] "xyxy" pixel boxes (class-agnostic: one box per anchor or proposal).
        scores: [B, N, C] class probabilities (sigmoid or softmax without background).
        image_size: (height, width), to normalize the boxes.
        max_detections: K, the fixed number of detections per image (padded with zero boxes and scores).
    """
    import tensorflow as tf

    if max_detections < 1:
        raise ValueError(f"Invalid max_detections: expected an integer >= 1. Received: max_detections={max_detections!r}")
    height, width = image_size
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    normalized = tf.stack([y1 / height, x1 / width, y2 / height, x2 / width], axis=-1)
    nms = tf.image.combined_non_max_suppression(
        normalized[:, :, None, :], tf.cast(scores, tf.float32), max_output_size_per_class=max_detections,
        max_total_size=max_detections, iou_threshold=iou_threshold, score_threshold=score_threshold,
        clip_boxes=True,
    )
    return {
        "detection_boxes": nms.nmsed_boxes,
        "detection_scores": nms.nmsed_scores,
        "detection_classes": nms.nmsed_classes + 1.0,
        "num_detections": tf.cast(nms.valid_detections, tf.float32),
    }


def to_pixel_detections(outputs: dict, image_size) -> list[dict]:
    """TF OD API outputs of a batch → per image {"boxes" [k, 4] "xyxy" pixels, "scores" [k], "classes" [k] 0-based}."""
    import numpy as np

    height, width = image_size
    results = []
    for n in range(len(outputs["num_detections"])):
        k = int(outputs["num_detections"][n])
        y1, x1, y2, x2 = np.asarray(outputs["detection_boxes"][n][:k], np.float32).T
        results.append({
            "boxes": np.stack([x1 * width, y1 * height, x2 * width, y2 * height], axis=-1).reshape(-1, 4),
            "scores": np.asarray(outputs["detection_scores"][n][:k], np.float32),
            "classes": np.asarray(outputs["detection_classes"][n][:k]).astype(np.int64) - 1,
        })
    return results


def greedy_nms(boxes, scores, *, max_outputs, iou_threshold=0.7):
    """Class-agnostic greedy NMS in ``keras.ops``: the ``max_outputs`` best boxes per image that survive.

    Sorts by score, then walks down the list once: a box is kept unless a kept box before it overlaps it by more
    than ``iou_threshold``. Suppressed boxes get score -inf, and the top ``max_outputs`` are returned (if fewer
    survive, the rest are suppressed boxes with score -inf).

    Args:
        boxes: [B, N, 4] "xyxy". scores: [B, N].

    Returns:
        (boxes [B, max_outputs, 4], scores [B, max_outputs]).
    """
    count = boxes.shape[1]
    if max_outputs > count:
        raise ValueError(f"Invalid max_outputs: expected at most the {count} boxes given. Received: max_outputs={max_outputs}")
    order = ops.argsort(-scores, axis=-1)
    boxes = ops.take_along_axis(boxes, order[..., None], axis=1)
    scores = ops.take_along_axis(scores, order, axis=1)
    overlaps = bounding_boxes.compute_iou(boxes, boxes, "xyxy") > iou_threshold  # [B, N, N]
    later = ops.arange(count)[None, :] > ops.arange(count)[:, None]  # j after i
    suppresses = ops.logical_and(overlaps, later[None])

    def step(i, keep):
        # box i, if still kept, suppresses every later box it overlaps
        row = ops.take(suppresses, i, axis=1)  # [B, N]
        kept_i = ops.take(keep, i, axis=1)[:, None]
        return ops.logical_and(keep, ops.logical_not(ops.logical_and(row, kept_i)))

    keep = ops.fori_loop(0, count, step, ops.ones_like(scores, dtype="bool"))
    scores = ops.where(keep, scores, float("-inf"))
    top_scores, top = ops.top_k(scores, max_outputs, sorted=True)
    return ops.take_along_axis(boxes, top[..., None], axis=1), top_scores


def detection_masks(outputs: dict, candidate_boxes, masks, *, image_size):
    """The mask of each detection [B, K, S, S]: the candidate's mask for the detected class.

    ``combined_non_max_suppression`` returns no indices, so each detection is traced back to the candidate whose
    normalized box is nearest to it (NMS returns the candidates' boxes unchanged, so the distance is zero).

    Args:
        outputs: ``detect``'s outputs. candidate_boxes: [B, N, 4] "xyxy" pixels. masks: [B, N, S, S, C].
    """
    import tensorflow as tf

    height, width = image_size
    x1, y1, x2, y2 = tf.unstack(tf.cast(candidate_boxes, tf.float32), axis=-1)
    candidates = tf.clip_by_value(tf.stack([y1 / height, x1 / width, y2 / height, x2 / width], axis=-1), 0.0, 1.0)
    distance = tf.reduce_sum(tf.abs(outputs["detection_boxes"][:, :, None, :] - candidates[:, None, :, :]), -1)
    index = tf.argmin(distance, axis=-1, output_type=tf.int32)  # [B, K]
    chosen = tf.gather(tf.cast(masks, tf.float32), index, batch_dims=1)  # [B, K, S, S, C]
    classes = tf.cast(outputs["detection_classes"], tf.int32) - 1
    return tf.gather(tf.transpose(chosen, (0, 1, 4, 2, 3)), classes, batch_dims=2)  # [B, K, S, S]


def paste_masks(masks, boxes, image_size, threshold=0.5):
    """Per-detection box masks [k, S, S] (probabilities) → full-image bool masks [k, H, W], each resized into its
    "xyxy" pixel box (bilinear) and thresholded, as Mask R-CNN pastes its 28x28 masks."""
    import numpy as np
    from skimage.transform import resize

    height, width = image_size
    pasted = np.zeros((len(masks), height, width), bool)
    for k, (mask, box) in enumerate(zip(masks, boxes)):
        x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
        x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if x2 > x1 and y2 > y1:
            pasted[k, y1:y2, x1:x2] = resize(np.asarray(mask, np.float32), (y2 - y1, x2 - x1), order=1) >= threshold
    return pasted
