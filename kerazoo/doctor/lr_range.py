"""Learning-rate range test (Smith, 2017, "Cyclical learning rates for training neural networks", section 3.3):
raise the learning rate exponentially from tiny to huge over a short run and watch the loss."""

from __future__ import annotations

import os

import numpy as np

from kerazoo.doctor.common import FAIL, PASS, WARN, CheckResult, fmt, is_finite

NAME = "lr_range"
MEANING = ("The loss should fall over some range of learning rates and blow up past it. The suggested rate is "
           "where the smoothed loss falls fastest; one well above the configured rate's neighbourhood that still "
           "trains means the configured one is too low, and a configured rate past the blow-up point is too high. "
           "If the loss never falls at any rate, or never below what predicting the label frequencies gives (the "
           "output ignores the input: dead ReLUs, zero weights), the model or the data pipeline is broken.")
LEARNED = 0.05
"""The best smoothed loss must be this fraction below the label-frequency baseline (and below the start)."""


def blew_up(loss: float, losses: list) -> bool:
    """Non-finite, or 4x the best loss so far and above the first: a near-zero loss that rises a little (0.002 to
    0.009) has not blown up."""
    if not is_finite(loss):
        return True
    return bool(losses) and loss > max(4 * min(losses), losses[0])


def label_frequency_loss(loss_fn, labels, num_classes: int) -> float | None:
    """The loss of the best input-independent answer: logits = log of the batch's label frequencies (None for
    labels that are not class ids, e.g. mixup's soft targets)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        return None
    frequencies = np.bincount(labels, minlength=num_classes) / len(labels)
    logits = np.log(np.maximum(frequencies, 1e-7)).astype("float32")
    return float(loss_fn(labels, np.tile(logits, (len(labels), 1))))


def smooth(values, beta: float = 0.7) -> np.ndarray:
    """Bias-corrected exponential moving average (as in Smith's and fast.ai's range test)."""
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta ** i))
    return np.asarray(out)


def check(ctx) -> CheckResult:
    low, high = ctx.options.lr_range
    rates = np.geomspace(low, high, ctx.options.lr_range_steps)
    model = ctx.trainer(lr=float(rates[0]))
    losses = []
    for rate in rates:
        model.optimizer.learning_rate = float(rate)
        loss, _ = model.train_on_batch(ctx.images, ctx.labels)
        if blew_up(loss, losses):
            break
        losses.append(float(loss))
    tried = rates[: len(losses)]
    smoothed = smooth(losses)
    figures = {"lrs": tried.tolist(), "losses": losses, "configured_lr": ctx.configured_lr}
    if len(losses) < 3:
        return CheckResult(NAME, FAIL, f"loss blew up within {len(losses)} steps from lr {fmt(low)}", MEANING, figures)
    slopes = np.gradient(smoothed, np.log10(tried))
    suggested = float(tried[int(np.argmin(slopes))])
    blow_up = float(rates[len(losses)]) if len(losses) < len(rates) else None
    figures.update({"suggested_lr": suggested, "blow_up_lr": blow_up, "min_loss": float(smoothed.min())})
    if ctx.out:
        figures["plot"] = _plot(tried, losses, smoothed, suggested, ctx.configured_lr, ctx.out)
    drop = 1 - smoothed.min() / smoothed[0]
    baseline = label_frequency_loss(ctx.loss_fn(), ctx.labels, ctx.num_classes)
    figures["label_frequency_loss"] = baseline
    summary = (f"suggested lr {fmt(suggested)} (steepest descent), loss blows up at "
               f"{fmt(blow_up) if blow_up else '>' + fmt(high)}; configured {fmt(ctx.configured_lr)}; "
               f"best smoothed loss {drop:.0%} below the start")
    if baseline is not None and smoothed.min() > (1 - LEARNED) * baseline:
        status = FAIL
        summary = (f"the loss never falls below {fmt(baseline)}, what the label frequencies alone give (best "
                   f"smoothed {fmt(float(smoothed.min()))}): the output ignores the input, no lr to suggest")
        figures["suggested_lr"] = None
    elif drop < LEARNED:
        status = FAIL
    elif blow_up is not None and ctx.configured_lr >= blow_up:
        status, summary = WARN, summary + " - the configured lr is past the blow-up point"
    else:
        status = PASS
    return CheckResult(NAME, status, summary, MEANING, figures)


def _plot(lrs, losses, smoothed, suggested, configured, out) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerazoo.io import save_figure

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses, alpha=0.3, label="loss")
    ax.plot(lrs, smoothed, label="smoothed")
    ax.axvline(suggested, color="g", linestyle="--", label=f"suggested {suggested:.2g}")
    ax.axvline(configured, color="r", linestyle=":", label=f"configured {configured:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, os.path.join(out, "lr_range.png"), "Learning-rate range test")
