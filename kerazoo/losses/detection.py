"""Detection losses, per anchor (or per proposal), from the "detection and segmentation" lecture.

    box deltas [..., 4] (targets and predictions, encoded against anchors), class scores [..., C] (logits)

- ``smooth_l1``: the box-regression loss of Fast R-CNN (Girshick, 2015): 0.5 x^2 / beta where |x| < beta, else
  |x| - 0.5 beta, summed over the 4 coordinates. It is Keras's Huber loss scaled by 1 / beta.
- ``sigmoid_focal``: the focal loss of RetinaNet (Lin et al., 2017, "Focal loss for dense object detection"),
  -alpha_t (1 - p_t)^gamma log p_t summed over the C sigmoid outputs, so the many easy background anchors add little.
  Keras's ``binary_focal_crossentropy`` computes it (as a mean over classes; here it is summed).
- ``hard_negative_mask``: SSD's hard-negative mining (Liu et al., 2016): keep all positives and only the
  ``negative_ratio`` x (number of positives) background anchors with the highest loss.

The functions return one value per anchor; the detectors sum them over the anchors they select and divide by the
number of positive anchors (both papers' normalization).
"""

from __future__ import annotations

import keras
from keras import ops

from kerazoo.losses.base import FunctionLoss

__all__ = ["smooth_l1", "sigmoid_focal", "hard_negative_mask", "SmoothL1", "SigmoidFocal"]


def smooth_l1(y_true, y_pred, beta=1.0 / 9.0):
    """Smooth-L1 loss per box (summed over the last axis of 4 coordinates); ``beta`` is where it turns linear."""
    if not beta > 0:
        raise ValueError(f"Invalid beta: expected a value > 0. Received: beta={beta!r}")
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    # keras.losses.huber averages over the last axis; smooth-L1 sums, and Huber(delta=beta) = beta * smooth-L1.
    return keras.losses.huber(y_true, y_pred, delta=beta) * (y_pred.shape[-1] / beta)


def sigmoid_focal(y_true, y_pred, alpha=0.25, gamma=2.0):
    """Focal loss per anchor, summed over classes. ``y_true`` are 0/1 targets [..., C]; ``y_pred`` logits [..., C]."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Invalid alpha: expected a value in [0, 1]. Received: alpha={alpha!r}")
    if not gamma >= 0.0:
        raise ValueError(f"Invalid gamma: expected a value >= 0. Received: gamma={gamma!r}")
    y_pred = ops.convert_to_tensor(y_pred)
    mean = keras.losses.binary_focal_crossentropy(
        y_true, y_pred, apply_class_balancing=True, alpha=alpha, gamma=gamma, from_logits=True
    )
    return mean * y_pred.shape[-1]


def hard_negative_mask(losses, positive, negative, negative_ratio=3.0):
    """Which anchors SSD trains its classifier on: every positive, plus the hardest negatives.

    Args:
        losses: per-anchor classification loss [B, N].
        positive: bool [B, N], anchors matched to an object.
        negative: bool [B, N], anchors that may count as background (not positive, not ignored).
        negative_ratio: at most this many negatives per positive in each image (at least one negative per image).

    Returns:
        bool [B, N]: positives and the ``negative_ratio * positives`` negatives of highest loss.
    """
    if not negative_ratio > 0:
        raise ValueError(f"Invalid negative_ratio: expected a value > 0. Received: negative_ratio={negative_ratio!r}")
    losses = ops.where(negative, losses, -1.0)  # positives and ignored anchors rank last
    # rank of each anchor's loss among its image's anchors (0 = hardest): argsort of argsort
    rank = ops.argsort(ops.argsort(-losses, axis=-1), axis=-1)
    positives = ops.sum(ops.cast(positive, "int32"), axis=-1, keepdims=True)
    quota = ops.maximum(ops.cast(ops.cast(positives, "float32") * negative_ratio, "int32"), 1)
    return ops.logical_or(positive, ops.logical_and(negative, rank < quota))


@keras.saving.register_keras_serializable(package="kerazoo")
class SmoothL1(FunctionLoss):
    """Smooth-L1 box loss (Girshick, 2015) per box, averaged over the batch; see ``smooth_l1``."""

    fn = staticmethod(smooth_l1)

    def __init__(self, beta=1.0 / 9.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        smooth_l1(0.0, [0.0], beta=beta)  # validates beta now, not at the first batch
        super().__init__(beta=float(beta), name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class SigmoidFocal(FunctionLoss):
    """RetinaNet's focal loss (Lin et al., 2017) per anchor, averaged over the batch; see ``sigmoid_focal``."""

    fn = staticmethod(sigmoid_focal)

    def __init__(self, alpha=0.25, gamma=2.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        sigmoid_focal([0.0], [0.0], alpha=alpha, gamma=gamma)  # validates the options now
        super().__init__(alpha=float(alpha), gamma=float(gamma), name=name, reduction=reduction, dtype=dtype)
