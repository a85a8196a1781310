"""Overfit a tiny subset: a model and recipe that work must reach ~100 % training accuracy on 20 examples with
regularization off."""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.doctor.common import FAIL, PASS, CheckResult, fmt, is_finite

NAME = "overfit_small_subset"
MEANING = ("With weight decay off, the model should memorize a handful of examples. If it cannot, something "
           "upstream is broken: the gradient does not reach the weights (zero or dead initialization), the learning "
           "rate is far too high or too low, or labels and inputs do not match.")


def check(ctx) -> CheckResult:
    n = ctx.options.overfit_examples
    images, labels = ctx.images[:n], ctx.labels[:n]
    model = ctx.trainer()
    first = last = None
    for _ in range(ctx.options.overfit_steps):
        loss, _ = model.train_on_batch(images, labels)
        first = loss if first is None else first
        last = loss
        if not is_finite(loss):
            break
    # Training-mode forward pass: BatchNorm's moving averages lag behind after so few steps.
    predictions = np.argmax(keras.ops.convert_to_numpy(model(images, training=True)), axis=-1)
    accuracy = float((predictions == labels).mean())
    figures = {"examples": len(images), "steps": ctx.options.overfit_steps, "first_loss": float(first),
               "last_loss": float(last), "train_accuracy": float(accuracy)}
    summary = (f"{len(images)} examples, {ctx.options.overfit_steps} steps: train accuracy {accuracy:.0%}, "
               f"loss {fmt(first)} → {fmt(last)}")
    status = PASS if accuracy >= ctx.options.overfit_target and is_finite(last) else FAIL
    return CheckResult(NAME, status, summary, MEANING, figures)
