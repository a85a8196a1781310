"""Semantic segmentation losses on per-pixel class scores, from the "detection and segmentation" lecture.

    masks [B, H, W] (integer classes, 0 = background) and logits [B, H, W, C]

- ``dice_loss``: 1 - the mean over classes of the soft Dice coefficient (2|P∩T| + s) / (|P| + |T| + s) with P the
  softmax probabilities (Milletari et al., 2016, "V-Net"; Sudre et al., 2017, "Generalised Dice overlap").
- ``soft_iou_loss``: 1 - the mean over classes of the soft Jaccard index (|P∩T| + s) / (|P ∪ T| + s)
  (Rahman and Wang, 2016, "Optimizing intersection-over-union in deep neural networks for image segmentation").
- ``cross_entropy_dice``: per-pixel cross-entropy averaged over the image plus ``dice_weight`` times the Dice loss:
  cross-entropy gives stable gradients early, Dice counts a small object as much as the background.

``keras.losses.Dice`` treats the whole tensor as one binary mask; these take integer masks and logits and average
the per-class overlaps, so rare classes count. All return one value per example; the classes average over the batch.
"""

from __future__ import annotations

import keras
from keras import ops

from kerazoo.losses.base import FunctionLoss

__all__ = ["dice_loss", "soft_iou_loss", "cross_entropy_dice", "DiceLoss", "SoftIoULoss", "CrossEntropyDice"]


def _check_smooth(smooth):
    if not smooth > 0:
        raise ValueError(f"Invalid smooth: expected a value > 0. Received: smooth={smooth!r}")


def _overlaps(y_true, y_pred):
    """Per example and class: (sum of P·T, sum of P, sum of T) over the pixels, each [B, C]."""
    logits = ops.convert_to_tensor(y_pred)
    probs = ops.softmax(logits, axis=-1)
    targets = ops.one_hot(ops.cast(ops.convert_to_tensor(y_true), "int32"), logits.shape[-1], dtype=probs.dtype)
    axes = tuple(range(1, len(logits.shape) - 1))
    return ops.sum(probs * targets, axis=axes), ops.sum(probs, axis=axes), ops.sum(targets, axis=axes)


def dice_loss(y_true, y_pred, smooth=1.0):
    """1 - mean over classes of the soft Dice coefficient, per example (logits → softmax probabilities)."""
    _check_smooth(smooth)
    both, predicted, true = _overlaps(y_true, y_pred)
    return 1.0 - ops.mean((2.0 * both + smooth) / (predicted + true + smooth), axis=-1)


def soft_iou_loss(y_true, y_pred, smooth=1.0):
    """1 - mean over classes of the soft intersection over union, per example."""
    _check_smooth(smooth)
    both, predicted, true = _overlaps(y_true, y_pred)
    return 1.0 - ops.mean((both + smooth) / (predicted + true - both + smooth), axis=-1)


def cross_entropy_dice(y_true, y_pred, dice_weight=1.0, smooth=1.0):
    """Mean per-pixel softmax cross-entropy plus ``dice_weight`` times :func:`dice_loss`, per example."""
    pixels = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    per_example = ops.mean(ops.reshape(pixels, (ops.shape(pixels)[0], -1)), axis=-1)
    return per_example + dice_weight * dice_loss(y_true, y_pred, smooth)


@keras.saving.register_keras_serializable(package="kerazoo")
class DiceLoss(FunctionLoss):
    """Multi-class soft Dice loss on logits (see :func:`dice_loss`), averaged over the batch."""

    fn = staticmethod(dice_loss)

    def __init__(self, smooth=1.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_smooth(smooth)
        super().__init__(smooth=float(smooth), name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class SoftIoULoss(FunctionLoss):
    """Multi-class soft IoU (Jaccard) loss on logits (see :func:`soft_iou_loss`), averaged over the batch."""

    fn = staticmethod(soft_iou_loss)

    def __init__(self, smooth=1.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_smooth(smooth)
        super().__init__(smooth=float(smooth), name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class CrossEntropyDice(FunctionLoss):
    """Cross-entropy plus weighted Dice loss on logits (see :func:`cross_entropy_dice`)."""

    fn = staticmethod(cross_entropy_dice)

    def __init__(self, dice_weight=1.0, smooth=1.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_smooth(smooth)
        if not dice_weight >= 0:
            raise ValueError(f"Invalid dice_weight: expected a value >= 0. Received: dice_weight={dice_weight!r}")
        super().__init__(dice_weight=float(dice_weight), smooth=float(smooth), name=name, reduction=reduction,
                         dtype=dtype)
