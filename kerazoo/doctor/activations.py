"""Activation statistics per layer: dead ReLUs (channels never positive on a batch) and saturated tanh/sigmoid
units (|tanh| > 0.99, sigmoid outside [0.01, 0.99])."""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.doctor.common import FAIL, PASS, WARN, CheckResult

NAME = "activations"
MEANING = ("A ReLU channel that is zero for every example gets no gradient and never recovers (\"dead ReLU\": too "
           "negative biases, a too-high learning rate, or a bad init). Saturated tanh/sigmoid units pass almost no "
           "gradient. Many dead or saturated units waste capacity and stall training.")


def _activation_kind(layer) -> str | None:
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "")
    return name if name in ("relu", "tanh", "sigmoid") else None


def _probed_layers(model):
    return [layer for layer in model.layers if _activation_kind(layer)]


def layer_statistics(model: keras.Model, images) -> dict:
    """Per activated layer: its kind, the fraction of dead channels (relu) or saturated units (tanh/sigmoid)."""
    layers = _probed_layers(model)
    if not layers:
        return {}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.output for layer in layers], name="activation_probe")
    outputs = probe(images, training=True)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    stats = {}
    for layer, out in zip(layers, outputs):
        out = keras.ops.convert_to_numpy(out)
        kind = _activation_kind(layer)
        if kind == "relu":
            active = (out > 0).reshape(-1, out.shape[-1]).any(axis=0)
            stats[layer.name] = {"kind": kind, "dead_fraction": float(1 - active.mean())}
        else:
            saturated = np.abs(out) > 0.99 if kind == "tanh" else (out < 0.01) | (out > 0.99)
            stats[layer.name] = {"kind": kind, "saturated_fraction": float(saturated.mean())}
    return stats


def check(ctx) -> CheckResult:
    stats = layer_statistics(ctx.model(), ctx.images)
    if not stats:
        return CheckResult(NAME, PASS, "no ReLU, tanh or sigmoid layers to inspect", MEANING, {})
    dead = {n: s["dead_fraction"] for n, s in stats.items() if "dead_fraction" in s}
    saturated = {n: s["saturated_fraction"] for n, s in stats.items() if "saturated_fraction" in s}
    limit = ctx.options.dead_fraction
    bad_dead = [n for n, f in dead.items() if f > limit]
    bad_saturated = [n for n, f in saturated.items() if f > limit]
    parts = []
    if dead:
        worst = max(dead, key=dead.get)
        parts.append(f"dead ReLU channels: mean {np.mean(list(dead.values())):.0%}, worst {dead[worst]:.0%} "
                     f"({worst}); {len(bad_dead)}/{len(dead)} layers over {limit:.0%}")
    if saturated:
        worst = max(saturated, key=saturated.get)
        parts.append(f"saturated units: worst {saturated[worst]:.0%} ({worst})")
    if bad_dead or bad_saturated:
        status = FAIL
    elif any(f > limit / 2 for f in [*dead.values(), *saturated.values()]):
        status = WARN
    else:
        status = PASS
    return CheckResult(NAME, status, "; ".join(parts), MEANING, {"layers": stats})
