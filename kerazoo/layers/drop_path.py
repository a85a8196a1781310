"""Stochastic depth (Huang et al., 2016): drop a residual branch per sample during training."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerazoo")
class DropPath(keras.layers.Layer):
    """Zeroes the whole input of a sample with probability ``rate`` during training and scales the survivors by
    ``1 / (1 - rate)``, so the expected output is unchanged and inference is the identity (the paper scales at test
    time instead; the two are equal in expectation).

    Args:
        rate: drop probability in [0, 1).
        seed: optional integer seed.
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Invalid rate: expected a probability in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype))
        return inputs * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def drop_path_rates(drop_path_rate: float, num_blocks: int) -> list[float]:
    """Linear decay over depth (Huang et al.): block i of N (0-based) drops with ``drop_path_rate * (i + 1) / N``."""
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(
            f"Invalid drop_path_rate: expected a probability in [0, 1). Received: drop_path_rate={drop_path_rate!r}"
        )
    return [drop_path_rate * (i + 1) / num_blocks for i in range(num_blocks)]
