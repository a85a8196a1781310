"""Classification losses on class scores (logits), from the "linear classification" lecture.

    scores [B, C] and labels [B] (integer classes) or [B, C] (one-hot or soft targets, e.g. from mixup)

- ``multiclass_hinge``: the multiclass SVM loss of Weston and Watkins (1999), sum_j≠y max(0, s_j - s_y + Δ).
- ``squared_hinge``: the same with squared margins (the L2-SVM; Tang, 2013, "Deep learning using linear SVMs").
- ``one_vs_all_hinge``: C independent binary SVMs, sum_j max(0, Δ - t_j s_j) with t_j = +1 for the true class and -1
  for the others (Rifkin and Klautau, 2004, "In defense of one-vs-all classification").
- ``softmax_cross_entropy``: -log softmax(s)_y with the max score subtracted first (the exponentials then never
  overflow), and optional label smoothing (Szegedy et al., 2016, "Rethinking the Inception architecture").

All return one value per example; the ``Loss`` classes average them over the batch.
"""

from __future__ import annotations

import keras
from keras import ops

from kerazoo.losses.base import FunctionLoss

__all__ = [
    "multiclass_hinge", "squared_hinge", "one_vs_all_hinge", "softmax_cross_entropy",
    "MulticlassHinge", "SquaredHinge", "OneVsAllHinge", "SoftmaxCrossEntropy",
]


def _targets(y_true, scores):
    """Labels as [B, C] target weights: integer labels [B] or [B, 1] become one-hot; [B, C] targets stay."""
    num_classes = scores.shape[-1]
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(scores.shape) and y_true.shape[-1] == num_classes and num_classes != 1:
        return ops.cast(y_true, scores.dtype)
    if len(y_true.shape) == len(scores.shape):
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.one_hot(ops.cast(y_true, "int32"), num_classes, dtype=scores.dtype)


def _check_margin(margin):
    if not margin > 0:
        raise ValueError(f"Invalid margin: expected a value > 0. Received: margin={margin!r}")


def _check_label_smoothing(label_smoothing):
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"Invalid label_smoothing: expected a value in [0, 1). Received: label_smoothing={label_smoothing!r}")


def _hinge_margins(y_true, scores, margin):
    """max(0, s_j - s_y + Δ) for every class j, weighted by 1 - t_j so that the true class adds nothing."""
    _check_margin(margin)
    scores = ops.convert_to_tensor(scores)
    targets = _targets(y_true, scores)
    correct = ops.sum(targets * scores, axis=-1, keepdims=True)
    return (1.0 - targets) * ops.relu(scores - correct + margin)


def multiclass_hinge(y_true, y_pred, margin=1.0):
    """Weston–Watkins multiclass SVM loss per example: sum over wrong classes j of max(0, s_j - s_y + margin)."""
    return ops.sum(_hinge_margins(y_true, y_pred, margin), axis=-1)


def squared_hinge(y_true, y_pred, margin=1.0):
    """L2-SVM loss per example: sum over wrong classes j of max(0, s_j - s_y + margin)^2."""
    return ops.sum(ops.square(_hinge_margins(y_true, y_pred, margin)), axis=-1)


def one_vs_all_hinge(y_true, y_pred, margin=1.0):
    """One-vs-all SVM loss per example: sum over classes j of max(0, margin - t_j s_j), t_j = +1 (true) or -1."""
    _check_margin(margin)
    scores = ops.convert_to_tensor(y_pred)
    signs = 2.0 * _targets(y_true, scores) - 1.0
    return ops.sum(ops.relu(margin - signs * scores), axis=-1)


def softmax_cross_entropy(y_true, y_pred, label_smoothing=0.0):
    """Softmax cross-entropy per example from scores, computed stably; ``label_smoothing`` ε mixes the targets
    with the uniform distribution: (1 - ε) t + ε / C."""
    _check_label_smoothing(label_smoothing)
    scores = ops.convert_to_tensor(y_pred)
    targets = _targets(y_true, scores)
    if label_smoothing:
        targets = (1.0 - label_smoothing) * targets + label_smoothing / scores.shape[-1]
    shifted = scores - ops.stop_gradient(ops.max(scores, axis=-1, keepdims=True))
    log_probs = shifted - ops.log(ops.sum(ops.exp(shifted), axis=-1, keepdims=True))
    return -ops.sum(targets * log_probs, axis=-1)


@keras.saving.register_keras_serializable(package="kerazoo")
class MulticlassHinge(FunctionLoss):
    """Weston–Watkins multiclass SVM loss (see :func:`multiclass_hinge`), averaged over the batch."""

    fn = staticmethod(multiclass_hinge)

    def __init__(self, margin=1.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_margin(margin)
        super().__init__(margin=float(margin), name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class SquaredHinge(FunctionLoss):
    """L2-SVM loss (see :func:`squared_hinge`), averaged over the batch."""

    fn = staticmethod(squared_hinge)

    def __init__(self, margin=1.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_margin(margin)
        super().__init__(margin=float(margin), name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class OneVsAllHinge(FunctionLoss):
    """One-vs-all SVM loss (see :func:`one_vs_all_hinge`), averaged over the batch."""

    fn = staticmethod(one_vs_all_hinge)

    def __init__(self, margin=1.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_margin(margin)
        super().__init__(margin=float(margin), name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class SoftmaxCrossEntropy(FunctionLoss):
    """Stable softmax cross-entropy on scores with label smoothing (see :func:`softmax_cross_entropy`)."""

    fn = staticmethod(softmax_cross_entropy)

    def __init__(self, label_smoothing=0.0, *, name=None, reduction="sum_over_batch_size", dtype=None):
        _check_label_smoothing(label_smoothing)
        super().__init__(label_smoothing=float(label_smoothing), name=name, reduction=reduction, dtype=dtype)
