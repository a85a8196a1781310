"""One serializable learning-rate schedule covering the recipes: linear warm-up, then constant, step or cosine."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerazoo")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate per optimizer step, defined in epochs.

    Args:
        lr: peak learning rate.
        steps_per_epoch: optimizer steps in one epoch.
        epochs: length of the run (cosine reaches 0 at its end).
        kind: "constant", "step" or "cosine".
        warmup_epochs: linear warm-up from 0 to ``lr`` over this many epochs.
        step_epochs: for "step", the epochs at which the rate is multiplied by ``step_factor``.
        step_factor: the multiplier of each step.
    """

    def __init__(self, lr, steps_per_epoch, epochs, kind="cosine", warmup_epochs=0.0, step_epochs=(), step_factor=0.1):
        if kind not in ("constant", "step", "cosine"):
            raise ValueError(f"Invalid kind: expected constant, step or cosine. Received: kind={kind!r}")
        self.lr = float(lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.kind = kind
        self.warmup_epochs = float(warmup_epochs)
        self.step_epochs = [int(e) for e in step_epochs]
        self.step_factor = float(step_factor)

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        if self.kind == "cosine":
            span = max(self.epochs - self.warmup_epochs, 1e-8)
            progress = ops.clip((epoch - self.warmup_epochs) / span, 0.0, 1.0)
            rate = 0.5 * self.lr * (1.0 + ops.cos(3.141592653589793 * progress))
        elif self.kind == "step":
            rate = ops.convert_to_tensor(self.lr, "float32")
            for boundary in self.step_epochs:
                rate = ops.where(epoch >= boundary, rate * self.step_factor, rate)
        else:
            rate = ops.convert_to_tensor(self.lr, "float32")
        if self.warmup_epochs > 0:
            rate = ops.where(epoch < self.warmup_epochs, self.lr * epoch / self.warmup_epochs, rate)
        return rate

    def get_config(self):
        return {
            "lr": self.lr, "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs, "kind": self.kind,
            "warmup_epochs": self.warmup_epochs, "step_epochs": self.step_epochs, "step_factor": self.step_factor,
        }
