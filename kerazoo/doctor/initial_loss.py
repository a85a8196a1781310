"""Initial loss: with small random weights every class is equally likely, so the softmax loss starts at ln(C);
adding the regularization term must raise it."""

from __future__ import annotations

import math

import numpy as np

from kerazoo.doctor.common import FAIL, PASS, WARN, CheckResult, fmt, kernels, norm

NAME = "initial_loss"
MEANING = ("The loss at initialization should be about ln(C) (diffuse scores) and rise when L2 regularization is "
           "added. Far above ln(C): the initial scores are too large (init scale, missing normalization). Exactly "
           "ln(C) with no rise from regularization: the weights are all zero (broken initialization). For hinge "
           "losses the expected value is (C - 1) * margin instead.")


def expected_initial_loss(loss_fn, num_classes: int) -> float:
    """The loss of all-equal scores: ln(C) for softmax cross-entropy, (C - 1) Δ for the multiclass hinge."""
    scores = np.zeros((1, num_classes), "float32")
    return float(loss_fn(np.zeros(1, "int32"), scores))


def check(ctx) -> CheckResult:
    model = ctx.model()
    loss_fn = ctx.loss_fn()
    data_loss = float(loss_fn(ctx.labels, model(ctx.images, training=True)))
    penalty = ctx.options.reg_strength * sum(norm(w) ** 2 for w in kernels(model))
    expected = expected_initial_loss(loss_fn, ctx.num_classes)
    figures = {"loss": data_loss, "expected": expected, "ln_C": math.log(ctx.num_classes),
               "loss_with_l2": data_loss + penalty, "l2_strength": ctx.options.reg_strength}
    ratio = data_loss / expected if expected else float("inf")
    summary = (f"loss {fmt(data_loss)} vs expected {fmt(expected)} (ratio {fmt(ratio)}); with L2 "
               f"λ={fmt(ctx.options.reg_strength)}: {fmt(data_loss + penalty)}")
    if not np.isfinite(data_loss):
        status = FAIL
    elif penalty <= 1e-6 * max(data_loss, 1.0):
        status, summary = FAIL, summary + " - regularization adds nothing: the weights are zero"
    elif ratio > 3 or ratio < 0.3:
        status = FAIL
    elif abs(ratio - 1) > 0.5:
        status = WARN
    else:
        status = PASS
    return CheckResult(NAME, status, summary, MEANING, figures)
