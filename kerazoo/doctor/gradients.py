"""Gradient statistics per layer: vanishing (zero or tiny relative to the weights) and exploding gradients."""

from __future__ import annotations

import numpy as np

from kerazoo.doctor.common import FAIL, PASS, WARN, CheckResult, fmt, loss_and_gradients, norm

NAME = "gradients"
MEANING = ("Every layer's weights should get a gradient of comparable relative size. Zero gradients (all-zero "
           "weights, dead units) mean those layers never learn; ones many orders of magnitude smaller in the early "
           "layers mean vanishing gradients (too deep without residuals/normalization, saturation); very large or "
           "non-finite ones mean exploding gradients (clip them or lower the learning rate).")


def check(ctx) -> CheckResult:
    model = ctx.model()
    loss, grads = loss_and_gradients(model, ctx.loss_fn(), ctx.images, ctx.labels)
    per_layer = {}
    for weight, grad in zip(model.trainable_weights, grads):
        if len(weight.shape) < 2:
            continue
        g = norm(grad) if grad is not None else 0.0
        per_layer[weight.path] = {"grad_norm": g, "weight_norm": norm(weight)}
    norms = [v["grad_norm"] for v in per_layer.values()]
    figures = {"loss": loss, "layers": per_layer}
    if not norms:
        return CheckResult(NAME, PASS, "no weight matrices to inspect", MEANING, figures)
    if not all(np.isfinite(norms)):
        return CheckResult(NAME, FAIL, "non-finite gradients (exploding)", MEANING, figures)
    zero = [name for name, v in per_layer.items() if v["grad_norm"] == 0.0]
    largest = max(norms)
    nonzero = [n for n in norms if n > 0]
    spread = largest / min(nonzero) if nonzero else float("inf")
    figures.update({"zero_gradient_layers": zero, "max_grad_norm": largest, "spread": spread})
    summary = (f"{len(zero)}/{len(norms)} layers with zero gradient; grad norms {fmt(min(norms))}..{fmt(largest)} "
               f"(spread {fmt(spread)}x)")
    if zero or largest > 1e3:
        status = FAIL
    elif spread > 1e4:
        status = WARN
    else:
        status = PASS
    return CheckResult(NAME, status, summary, MEANING, figures)
