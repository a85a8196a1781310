"""NaN/Inf guard: the weights, the outputs, the loss and the gradients of one batch must all be finite."""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.doctor.common import FAIL, PASS, CheckResult, loss_and_gradients

NAME = "nan_guard"
MEANING = ("A NaN or Inf anywhere poisons every later step. In the weights: a broken initializer or checkpoint. In "
           "the outputs or the loss: overflow (unnormalized inputs, a log or division of zero in a custom layer or "
           "loss). In the gradients: a non-differentiable point or an unstable custom gradient.")


def check(ctx) -> CheckResult:
    model = ctx.model()
    bad_weights = [w.path for w in model.weights if not np.all(np.isfinite(keras.ops.convert_to_numpy(w)))]
    outputs = keras.ops.convert_to_numpy(model(ctx.images, training=False))
    loss, grads = loss_and_gradients(model, ctx.loss_fn(), ctx.images, ctx.labels)
    bad_grads = [w.path for w, g in zip(model.trainable_weights, grads) if g is not None and not np.all(np.isfinite(g))]
    figures = {"non_finite_weights": bad_weights, "non_finite_outputs": int((~np.isfinite(outputs)).sum()),
               "loss": loss, "non_finite_gradients": bad_grads}
    problems = []
    if bad_weights:
        problems.append(f"{len(bad_weights)} weight tensors")
    if figures["non_finite_outputs"]:
        problems.append(f"{figures['non_finite_outputs']} output values")
    if not np.isfinite(loss):
        problems.append("the loss")
    if bad_grads:
        problems.append(f"{len(bad_grads)} gradient tensors")
    if problems:
        return CheckResult(NAME, FAIL, "NaN/Inf in " + ", ".join(problems), MEANING, figures)
    return CheckResult(NAME, PASS, f"weights, outputs, loss ({loss:.3g}) and gradients finite", MEANING, figures)
