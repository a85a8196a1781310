"""One serializable learning-rate schedule covering the recipes: linear warm-up, then constant, step decay, cosine
annealing or cosine with warm restarts (SGDR).

    schedule = EpochSchedule(0.1, steps_per_epoch=430, epochs=30, kind="sgdr", restart_epochs=10)
    restart_epochs_of(schedule)      # [10, 20, 30]: where snapshot ensembles save a model

- step: multiply by ``step_factor`` at each of ``step_epochs`` (He et al., 2016).
- cosine: 0.5 lr (1 + cos(π t / T)) down to zero at the last epoch (Loshchilov and Hutter, 2017).
- sgdr: the same cosine over cycles of ``restart_epochs`` epochs, each ``restart_mult`` times longer than the last,
  restarting at ``lr`` (Loshchilov and Hutter, 2017, "SGDR: stochastic gradient descent with warm restarts").
- warm-up: linear from 0 to ``lr`` over ``warmup_epochs`` (Goyal et al., 2017), before any of them.
"""

from __future__ import annotations

import math

import keras
from keras import ops

KINDS = ("constant", "step", "cosine", "sgdr")


@keras.saving.register_keras_serializable(package="kerazoo")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate per optimizer step, defined in epochs.

    Args:
        lr: peak learning rate.
        steps_per_epoch: optimizer steps in one epoch.
        epochs: length of the run (cosine reaches 0 at its end).
        kind: "constant", "step", "cosine" or "sgdr".
        warmup_epochs: linear warm-up from 0 to ``lr`` over this many epochs.
        step_epochs: for "step", the epochs at which the rate is multiplied by ``step_factor``.
        step_factor: the multiplier of each step.
        restart_epochs: for "sgdr", the length of the first cycle in epochs (counted after the warm-up).
        restart_mult: for "sgdr", how much longer each cycle is than the previous one (1 = equal cycles).
    """

    def __init__(self, lr, steps_per_epoch, epochs, kind="cosine", warmup_epochs=0.0, step_epochs=(), step_factor=0.1,
                 restart_epochs=10.0, restart_mult=1.0):
        if kind not in KINDS:
            raise ValueError(f"Invalid kind: expected one of {', '.join(KINDS)}. Received: kind={kind!r}")
        if not restart_epochs > 0:
            raise ValueError(f"Invalid restart_epochs: expected a value > 0. Received: restart_epochs={restart_epochs!r}")
        if not restart_mult >= 1:
            raise ValueError(f"Invalid restart_mult: expected a value >= 1. Received: restart_mult={restart_mult!r}")
        self.lr = float(lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.kind = kind
        self.warmup_epochs = float(warmup_epochs)
        self.step_epochs = [int(e) for e in step_epochs]
        self.step_factor = float(step_factor)
        self.restart_epochs = float(restart_epochs)
        self.restart_mult = float(restart_mult)

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        if self.kind == "cosine":
            span = max(self.epochs - self.warmup_epochs, 1e-8)
            rate = self._cosine(ops.clip((epoch - self.warmup_epochs) / span, 0.0, 1.0))
        elif self.kind == "sgdr":
            rate = self._cosine(self._cycle_progress(ops.maximum(epoch - self.warmup_epochs, 0.0)))
        elif self.kind == "step":
            rate = ops.convert_to_tensor(self.lr, "float32")
            for boundary in self.step_epochs:
                rate = ops.where(epoch >= boundary, rate * self.step_factor, rate)
        else:
            rate = ops.convert_to_tensor(self.lr, "float32")
        if self.warmup_epochs > 0:
            rate = ops.where(epoch < self.warmup_epochs, self.lr * epoch / self.warmup_epochs, rate)
        return rate

    def _cosine(self, progress):
        return 0.5 * self.lr * (1.0 + ops.cos(math.pi * progress))

    def _cycle_progress(self, t):
        """Position in the current SGDR cycle, in [0, 1), for ``t`` epochs after the warm-up."""
        period, mult = self.restart_epochs, self.restart_mult
        if mult == 1.0:
            return (t - ops.floor(t / period) * period) / period
        # Cycle i starts at period (mult^i - 1) / (mult - 1).
        index = ops.floor(ops.log(t * (mult - 1.0) / period + 1.0) / math.log(mult))
        start = period * (ops.power(mult, index) - 1.0) / (mult - 1.0)
        return (t - start) / (period * ops.power(mult, index))

    def get_config(self):
        return {
            "lr": self.lr, "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs, "kind": self.kind,
            "warmup_epochs": self.warmup_epochs, "step_epochs": self.step_epochs, "step_factor": self.step_factor,
            "restart_epochs": self.restart_epochs, "restart_mult": self.restart_mult,
        }


def restart_epochs_of(schedule: EpochSchedule) -> list[int]:
    """The epochs (1-based, whole) that end an SGDR cycle within the run: where snapshot ensembles save a model."""
    if schedule.kind != "sgdr":
        return []
    ends, length, end = [], schedule.restart_epochs, schedule.warmup_epochs
    while end + length <= schedule.epochs + 1e-9:
        end += length
        ends.append(int(round(end)))
        length *= schedule.restart_mult
    return ends
