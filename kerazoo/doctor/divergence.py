"""A few steps at the configured learning rate: the loss must not blow up (> 3x the initial loss) or turn NaN."""

from __future__ import annotations

from kerazoo.doctor.common import FAIL, PASS, CheckResult, fmt, is_finite

NAME = "divergence"
MEANING = ("If the loss explodes (more than 3x its initial value) or becomes NaN/Inf within a few steps at the "
           "configured learning rate, the learning rate is too high (see the lr range test for a suggestion), or "
           "the loss is numerically unstable.")


def check(ctx) -> CheckResult:
    model = ctx.trainer()
    losses = []
    for step in range(ctx.options.trial_steps):
        loss, _ = model.train_on_batch(ctx.images, ctx.labels)
        losses.append(float(loss))
        if not is_finite(loss) or loss > 3 * losses[0]:
            break
    worst = max(losses) if all(map(is_finite, losses)) else float("nan")
    figures = {"lr": ctx.configured_lr, "steps": len(losses), "initial_loss": losses[0], "last_loss": losses[-1],
               "max_loss": worst}
    if not is_finite(losses[-1]):
        status, summary = FAIL, f"loss became {losses[-1]} at step {len(losses)} (lr {fmt(ctx.configured_lr)})"
    elif losses[-1] > 3 * losses[0]:
        status, summary = FAIL, (f"loss {fmt(losses[0])} → {fmt(losses[-1])} (> 3x) in {len(losses)} steps at "
                                 f"lr {fmt(ctx.configured_lr)}: diverging")
    else:
        status, summary = PASS, (f"loss {fmt(losses[0])} → {fmt(losses[-1])} in {len(losses)} steps at "
                                 f"lr {fmt(ctx.configured_lr)}")
    return CheckResult(NAME, status, summary, MEANING, figures)
