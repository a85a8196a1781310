"""Update/weight ratio per layer: after one optimizer step, ||ΔW|| / ||W|| should be around 1e-3 (CS231n notes)."""

from __future__ import annotations

import numpy as np

from kerazoo.doctor.common import FAIL, PASS, WARN, CheckResult, fmt, kernels, norm

NAME = "update_ratio"
MEANING = ("The size of one update relative to the weights should be about 1e-3. Much larger (> 1e-1) means the "
           "learning rate is too high and training will thrash or diverge; much smaller (< 1e-5) means it is too "
           "low, or the gradient barely reaches those layers. Zero weights make the ratio undefined (broken init).")


def check(ctx) -> CheckResult:
    model = ctx.trainer()
    before = [np.array(w) for w in kernels(model)]
    model.train_on_batch(ctx.images, ctx.labels)
    ratios = {}
    for weight, old in zip(kernels(model), before):
        scale = norm(old)
        ratios[weight.path] = norm(np.asarray(weight) - old) / scale if scale > 0 else float("inf")
    finite = [r for r in ratios.values() if np.isfinite(r)]
    zero_layers = [name for name, r in ratios.items() if not np.isfinite(r)]
    figures = {"ratios": ratios, "lr": ctx.configured_lr}
    if not finite:
        return CheckResult(NAME, FAIL, f"all {len(ratios)} weight tensors are zero or non-finite", MEANING, figures)
    median, low, high = float(np.median(finite)), min(finite), max(finite)
    figures.update({"median": median, "min": low, "max": high})
    summary = (f"median {fmt(median)} over {len(ratios)} layers (min {fmt(low)}, max {fmt(high)}) at lr "
               f"{fmt(ctx.configured_lr)}")
    if zero_layers:
        status, summary = FAIL, summary + f"; {len(zero_layers)} layers have all-zero weights"
    elif median > 1e-1 or median < 1e-5:
        status = FAIL
    elif median > 1e-2 or median < 1e-4:
        status = WARN
    else:
        status = PASS
    return CheckResult(NAME, status, summary, MEANING, figures)
