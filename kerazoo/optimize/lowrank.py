"""Low-rank factorization of Dense and Conv2D layers by truncated SVD (Denton et al., 2014, "Exploiting Linear
Structure Within Convolutional Networks for Efficient Evaluation"; Jaderberg et al., 2014).

A kernel reshaped to a matrix W [fan_in, units] is replaced by its rank-r SVD, W ≈ (U_r S_r)(V_rᵀ):

- Dense(units) → Dense(r, no bias) ``NAME_u`` → Dense(units, bias, activation) ``NAME_v``;
- Conv2D(filters, k×k) → Conv2D(r, k×k, same strides/padding, no bias) ``NAME_u`` → Conv2D(filters, 1×1)
  ``NAME_v``.

At full rank (r = min(fan_in, units)) the factorized model reproduces the original outputs (up to float rounding);
a smaller r trades accuracy for r·(fan_in + units) instead of fan_in·units weights.

    small = factorize(model, energy=0.9)              # keep 90 % of each kernel's squared singular values
    small = factorize(model, rank=8, layers=["f6_dense"])
"""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.optimize.graph import rebuild_graph, unwrap


def choose_rank(singular_values: np.ndarray, *, rank: int | None = None, energy: float | None = None) -> int:
    """``rank`` (capped at the full rank), or the smallest rank keeping ``energy`` of the sum of squared singular
    values."""
    if (rank is None) == (energy is None):
        raise ValueError(f"Pass exactly one of rank and energy. Received: rank={rank!r}, energy={energy!r}")
    if rank is not None:
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"Invalid rank: expected an integer >= 1. Received: rank={rank!r}")
        return min(rank, len(singular_values))
    if not 0.0 < energy <= 1.0:
        raise ValueError(f"Invalid energy: expected a value in (0, 1]. Received: energy={energy!r}")
    cumulative = np.cumsum(singular_values**2) / np.sum(singular_values**2)
    return int(min(len(singular_values), np.searchsorted(cumulative, energy - 1e-12) + 1))


def _factorable(layer) -> bool:
    if isinstance(layer, keras.layers.Dense):
        return True
    return (isinstance(layer, keras.layers.Conv2D) and type(layer) is keras.layers.Conv2D and layer.groups == 1
            and layer.data_format == "channels_last")


def _factor_layers(layer, rank: int):
    """The two layers replacing ``layer`` and their weights at ``rank``."""
    kernel = np.asarray(layer.kernel)
    matrix = kernel.reshape(-1, kernel.shape[-1])
    u, s, vt = np.linalg.svd(matrix.astype(np.float64), full_matrices=False)
    first_kernel = (u[:, :rank] * s[:rank]).reshape(*kernel.shape[:-1], rank)
    second_kernel = vt[:rank]
    config = layer.get_config()
    second_weights = [second_kernel] + ([np.asarray(layer.bias)] if layer.use_bias else [])
    if isinstance(layer, keras.layers.Dense):
        first = keras.layers.Dense(rank, use_bias=False, name=f"{layer.name}_u")
        second = keras.layers.Dense(config["units"], activation=config["activation"], use_bias=config["use_bias"],
                                    name=f"{layer.name}_v")
    else:
        first = keras.layers.Conv2D(rank, config["kernel_size"], strides=config["strides"], padding=config["padding"],
                                    dilation_rate=config["dilation_rate"], use_bias=False, name=f"{layer.name}_u")
        second = keras.layers.Conv2D(config["filters"], 1, activation=config["activation"],
                                     use_bias=config["use_bias"], name=f"{layer.name}_v")
        second_weights[0] = second_kernel.reshape(1, 1, rank, -1)
    return first, second, [first_kernel], second_weights


def factorize(model, *, rank: int | None = None, energy: float | None = None, layers=None,
              only_if_smaller: bool = True):
    """A new Keras 3 model with Dense/Conv2D kernels replaced by truncated-SVD pairs.

    Args:
        rank / energy: the rank of every factorized layer, or the energy ratio choosing it per layer.
        layers: names of the layers to factorize (default: every Dense and Conv2D).
        only_if_smaller: skip a layer whose factorization would have as many weights as the original (always the
            case at full rank; pass False to factorize anyway, e.g. to check that full rank reproduces the model).

    Returns:
        (model, {layer name: chosen rank}) — only factorized layers are listed.
    """
    names = {layer.name for layer in model.layers}
    if layers is not None:
        unknown = sorted(set(layers) - names)
        if unknown:
            raise ValueError(f"Invalid layers: {unknown} are not layers of {model.name!r}.")
        bad = [n for n in layers if not _factorable(model.get_layer(n))]
        if bad:
            raise ValueError(f"Invalid layers: {bad} are not Dense or (ungrouped, channels_last) Conv2D layers.")
    chosen: dict[str, int] = {}
    weights: dict[str, list] = {}

    def make_input(layer):
        return keras.Input(batch_shape=layer.batch_shape, dtype=layer.dtype, name=layer.name)

    def make_layer(layer):
        wanted = layer.name in layers if layers is not None else _factorable(layer)
        if wanted:
            kernel = np.asarray(layer.kernel)
            fan_in, units = int(np.prod(kernel.shape[:-1])), kernel.shape[-1]
            s = np.linalg.svd(kernel.reshape(fan_in, units), compute_uv=False)
            r = choose_rank(s, rank=rank, energy=energy)
            if not only_if_smaller or r * (fan_in + units) < fan_in * units:
                first, second, first_weights, second_weights = _factor_layers(layer, r)
                chosen[layer.name] = r
                weights[first.name], weights[second.name] = first_weights, second_weights
                return lambda x: second(first(x))
        return layer.__class__.from_config(layer.get_config())

    inputs, outputs = rebuild_graph(model, make_input, make_layer)
    factored = keras.Model(unwrap(inputs), unwrap(outputs), name=f"{model.name}_lowrank")
    for name, values in weights.items():
        factored.get_layer(name).set_weights(values)
    for layer in model.layers:
        if layer.name not in chosen and layer.get_weights():
            factored.get_layer(layer.name).set_weights(layer.get_weights())
    return factored, chosen

