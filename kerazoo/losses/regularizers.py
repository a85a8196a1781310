"""Weight penalties as Keras regularizers: L1, L2 and elastic net, and ``regularizer(name, strength)`` by name.

The course's regularization term R(W) (Zou and Hastie, 2005, for the elastic net):
    l1:          λ Σ|w|
    l2:          λ Σ w²
    elastic_net: λ (ρ Σ|w| + (1 - ρ) / 2 Σ w²)     (scikit-learn's parametrization: strength λ, l1_ratio ρ)

L1 and L2 are Keras's own (``keras.regularizers.L1``/``L2``); the elastic net is defined here because Keras's
``L1L2`` takes two independent factors instead of one strength and a mix.

    layer = keras.layers.Dense(10, kernel_regularizer=regularizer("elastic_net", 1e-4, l1_ratio=0.5))
"""

from __future__ import annotations

import difflib

import keras
from keras import ops

__all__ = ["ElasticNet", "regularizer", "REGULARIZERS"]

REGULARIZERS = ("l1", "l2", "elastic_net")


@keras.saving.register_keras_serializable(package="kerazoo")
class ElasticNet(keras.regularizers.Regularizer):
    """Elastic-net penalty λ (ρ Σ|w| + (1 - ρ) / 2 Σ w²).

    Args:
        strength: λ ≥ 0.
        l1_ratio: ρ in [0, 1]; 1 is pure L1, 0 is pure L2 (with the factor 1/2).
    """

    def __init__(self, strength=1e-4, l1_ratio=0.5):
        if not strength >= 0:
            raise ValueError(f"Invalid strength: expected a value >= 0. Received: strength={strength!r}")
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"Invalid l1_ratio: expected a value in [0, 1]. Received: l1_ratio={l1_ratio!r}")
        self.strength = float(strength)
        self.l1_ratio = float(l1_ratio)

    def __call__(self, x):
        l1 = ops.sum(ops.abs(x))
        l2 = ops.sum(ops.square(x))
        return self.strength * (self.l1_ratio * l1 + 0.5 * (1.0 - self.l1_ratio) * l2)

    def get_config(self):
        return {"strength": self.strength, "l1_ratio": self.l1_ratio}


def regularizer(name: str, strength: float, *, l1_ratio: float = 0.5) -> keras.regularizers.Regularizer:
    """The penalty ``name`` (l1, l2 or elastic_net) with strength λ."""
    if name == "l1":
        return keras.regularizers.L1(strength)
    if name == "l2":
        return keras.regularizers.L2(strength)
    if name == "elastic_net":
        return ElasticNet(strength, l1_ratio)
    close = difflib.get_close_matches(name, REGULARIZERS, n=2)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"Unknown regularizer {name!r}.{hint} Expected one of: {', '.join(REGULARIZERS)}.")
