"""DropConnect (Wan, Zeiler, Zhang, LeCun and Fergus, "Regularization of Neural Networks using DropConnect", 2013).

Dropout zeroes activations; DropConnect zeroes individual *weights*: during training each entry of the kernel is
kept with probability ``1 - rate``, so an output unit loses only some of its connections, never all of them at once.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerazoo")
class DropConnectDense(keras.layers.Dense):
    """A Dense layer whose kernel entries are dropped at random during training.

    Training: ``y = activation(x @ (M * W) / (1 - rate) + b)`` with ``M`` a Bernoulli(1 - rate) mask over the kernel
    (the bias is never dropped). The ``1 / (1 - rate)`` scaling keeps every pre-activation's expectation equal to
    ``x @ W + b``, so inference is the plain Dense layer ``activation(x @ W + b)``, unscaled. (The paper instead
    moment-matches a Gaussian at inference; the mean-network inference used here is its cheap approximation, the
    one the paper also reports as "mean inference" and dropout uses.)

    Args:
        units: output size, as for ``keras.layers.Dense``.
        rate: probability of dropping each weight, in [0, 1).
        per_sample: False (default): one mask per call, shared by the batch (cheap: one masked matmul).
            True: a fresh mask for every sample, as in the paper; costs batch x inputs x units memory.
        seed: optional integer seed.
        **kwargs: the other ``keras.layers.Dense`` arguments (activation, use_bias, initializers, ...).
    """

    def __init__(self, units, rate: float = 0.5, per_sample: bool = False, seed: int | None = None, **kwargs):
        super().__init__(units, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Invalid rate: expected a probability in [0, 1). Received: rate={rate!r}")
        if not isinstance(per_sample, bool):
            raise ValueError(f"Invalid per_sample: expected True or False. Received: per_sample={per_sample!r}")
        self.rate = float(rate)
        self.per_sample = per_sample
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return super().call(inputs)
        kernel = ops.cast(self.kernel, inputs.dtype)
        keep = 1.0 - self.rate
        if self.per_sample:
            mask_shape = (ops.shape(inputs)[0],) + tuple(kernel.shape)
        else:
            mask_shape = tuple(kernel.shape)
        mask = ops.floor(keep + keras.random.uniform(mask_shape, seed=self.seed_generator, dtype=inputs.dtype))
        masked = kernel * mask / keep
        if self.per_sample:
            x = ops.einsum("b...i,bio->b...o", inputs, masked)
        else:
            x = ops.matmul(inputs, masked)
        if self.bias is not None:
            x = ops.add(x, ops.cast(self.bias, x.dtype))
        if self.activation is not None:
            x = self.activation(x)
        return x

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "per_sample": self.per_sample, "seed": self.seed}
