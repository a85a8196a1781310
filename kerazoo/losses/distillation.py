"""Knowledge-distillation losses (Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a Neural Network").

    soft = T² · KL(softmax(t / T) ‖ softmax(s / T))                 # match the teacher's softened distribution
    hard = -log softmax(s)_y                                         # the usual cross-entropy on the labels
    loss = α · soft + (1 - α) · hard

with teacher logits ``t``, student logits ``s``, temperature ``T`` and soft weight ``α``. The T² factor keeps the
soft term's gradients at the same scale as the hard term's when T changes (section 2 of the paper).

All return one value per example; the ``Loss`` class averages over the batch.
"""

from __future__ import annotations

import keras
from keras import ops

from kerazoo.losses.base import FunctionLoss

__all__ = ["soft_target_loss", "distillation_loss", "SoftTargetLoss"]


def check_distillation_options(temperature, alpha=0.5):
    if not temperature > 0:
        raise ValueError(f"Invalid temperature: expected a value > 0. Received: temperature={temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Invalid alpha: expected a value in [0, 1]. Received: alpha={alpha!r}")


def soft_target_loss(teacher_logits, student_logits, temperature: float = 4.0):
    """T² · KL(softmax(t/T) ‖ softmax(s/T)) per example (zero when the student matches the teacher)."""
    check_distillation_options(temperature)
    teacher_log_p = ops.log_softmax(ops.convert_to_tensor(teacher_logits) / temperature, axis=-1)
    student_log_p = ops.log_softmax(ops.convert_to_tensor(student_logits) / temperature, axis=-1)
    kl = ops.sum(ops.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)
    return (temperature**2) * kl


def distillation_loss(labels, student_logits, teacher_logits, temperature: float = 4.0, alpha: float = 0.9):
    """α · soft_target_loss + (1 - α) · cross-entropy(labels, student) per example (integer labels, or soft targets
    of the logits' shape, as mixup gives)."""
    check_distillation_options(temperature, alpha)
    labels, student_logits = ops.convert_to_tensor(labels), ops.convert_to_tensor(student_logits)
    if len(labels.shape) == len(student_logits.shape):
        hard = keras.losses.categorical_crossentropy(labels, student_logits, from_logits=True)
    else:
        hard = keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True)
    return alpha * soft_target_loss(teacher_logits, student_logits, temperature) + (1.0 - alpha) * hard


@keras.saving.register_keras_serializable(package="kerazoo")
class SoftTargetLoss(FunctionLoss):
    """The soft term alone as a Keras loss: ``y_true`` = teacher logits, ``y_pred`` = student logits."""

    fn = staticmethod(soft_target_loss)

    def __init__(self, temperature: float = 4.0, **kwargs):
        check_distillation_options(temperature)
        super().__init__(temperature=temperature, **kwargs)
