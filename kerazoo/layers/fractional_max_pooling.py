"""Fractional max-pooling (Benjamin Graham, "Fractional Max-Pooling", 2014), in ``keras.ops`` only.

An N_in x N_in map is pooled to N_out x N_out with N_out = floor(N_in / alpha) for a non-integer ratio alpha (such
as sqrt(2) ~ 1.414). Along each axis the pooling regions are cut by an increasing integer sequence
``0 = a_0 < a_1 < ... < a_{N_out} = N_in`` whose increments are all floor(N_in / N_out) or one more (1 or 2 for
1 < alpha < 2). Output i covers rows ``[a_i, a_{i+1} - 1]`` (disjoint) or ``[a_i, a_{i+1}]`` (overlapping, clipped
to the map), and likewise for columns, with an independent sequence. The sequences are drawn anew at every training
call (one draw per call, shared by the batch):

- random: the increments are a random permutation of the right number of small and large steps;
- pseudo-random: ``a_i = ceil(alpha (i + u)) - ceil(alpha u)`` with a random offset u, which spreads the large
  steps evenly (computed in exact integer arithmetic: alpha u is drawn as an integer offset Y / N_out).

At inference the layer is deterministic: it uses the pseudo-random sequence with offset 0,
``a_i = ceil(i N_in / N_out)``. (Graham also averages several random draws at test time; call the layer with
``training=True`` repeatedly to do that.)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops


def _ceil_div(p, q):
    return -ops.floor_divide(-p, q)


def output_size(input_size: int | None, ratio: float) -> int | None:
    """floor(input_size / ratio), as in Graham's N_out = N_in / alpha."""
    return None if input_size is None else int(math.floor(input_size / ratio))


def inference_boundaries(input_size: int, out_size: int) -> np.ndarray:
    """The deterministic boundaries ``a_i = ceil(i * N_in / N_out)``, i = 0..N_out (integers, exact)."""
    i = np.arange(out_size + 1)
    return -((-i * input_size) // out_size)


@keras.saving.register_keras_serializable(package="kerazoo")
class FractionalMaxPooling(keras.layers.Layer):
    """Fractional max-pooling of channels-last 4-D maps; spatial sizes must be known when the layer is built.

    Args:
        pooling_ratio: alpha >= 1, one float for both axes or a (rows, columns) pair. Default 1.414 (sqrt 2).
        pseudo_random: True for pseudo-random region sequences, False (default) for random ones.
        overlapping: True for overlapping regions (each shares its last row/column with the next one), False
            (default) for disjoint ones.
        seed: optional integer seed.

    Output: (batch, floor(height / alpha_rows), floor(width / alpha_cols), channels).
    """

    def __init__(self, pooling_ratio=1.414, pseudo_random: bool = False, overlapping: bool = False,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        ratios = pooling_ratio if isinstance(pooling_ratio, (list, tuple)) else (pooling_ratio, pooling_ratio)
        if len(ratios) != 2 or any(
            isinstance(r, bool) or not isinstance(r, (int, float)) or not r >= 1.0 for r in ratios
        ):
            raise ValueError(
                "Invalid pooling_ratio: expected a number >= 1 or a (rows, columns) pair of them. "
                f"Received: pooling_ratio={pooling_ratio!r}"
            )
        for arg, value in (("pseudo_random", pseudo_random), ("overlapping", overlapping)):
            if not isinstance(value, bool):
                raise ValueError(f"Invalid {arg}: expected True or False. Received: {arg}={value!r}")
        self.pooling_ratio = tuple(float(r) for r in ratios)
        self.pseudo_random = pseudo_random
        self.overlapping = overlapping
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        sizes = tuple(input_shape[1:3])
        if any(s is None for s in sizes):
            raise ValueError(
                "Invalid input_shape: FractionalMaxPooling needs known height and width. "
                f"Received: input_shape={tuple(input_shape)!r}"
            )
        outs = tuple(output_size(s, r) for s, r in zip(sizes, self.pooling_ratio))
        if min(outs) < 1:
            raise ValueError(
                f"Invalid input_shape: pooling_ratio={self.pooling_ratio} leaves no output for spatial size {sizes}. "
                f"Received: input_shape={tuple(input_shape)!r}"
            )
        self.input_sizes, self.output_sizes = sizes, outs

    def _random_boundaries(self, n_in: int, n_out: int):
        if self.pseudo_random:
            offset = keras.random.randint((), 0, n_in, dtype="int32", seed=self.seed_generator)
            i = ops.arange(n_out + 1, dtype="int32")
            return _ceil_div(i * n_in + offset, n_out) - _ceil_div(offset, n_out)
        small = n_in // n_out
        n_large = n_in - small * n_out
        ranks = ops.argsort(ops.argsort(keras.random.uniform((n_out,), seed=self.seed_generator)))
        steps = small + ops.cast(ranks < n_large, "int32")
        return ops.concatenate([ops.zeros((1,), "int32"), ops.cumsum(steps)])

    def sample_boundaries(self, training=None):
        """The (row, column) boundary sequences for one call: random draws in training, fixed at inference."""
        bounds = []
        for n_in, n_out in zip(self.input_sizes, self.output_sizes):
            if training:
                bounds.append(ops.cast(self._random_boundaries(n_in, n_out), "int32"))
            else:
                bounds.append(ops.convert_to_tensor(inference_boundaries(n_in, n_out), dtype="int32"))
        return tuple(bounds)

    def _max_along(self, x, bounds, axis: int, n_in: int):
        start, end = bounds[:-1], bounds[1:]
        if self.overlapping:
            end = ops.minimum(end + 1, n_in)
        longest = n_in // (int(bounds.shape[0]) - 1) + 1 + int(self.overlapping)
        # Index t of region i is min(start_i + t, end_i - 1): short regions repeat their last element.
        index = ops.minimum(
            ops.expand_dims(start, 1) + ops.expand_dims(ops.arange(longest, dtype="int32"), 0),
            ops.expand_dims(end, 1) - 1,
        )
        return ops.max(ops.take(x, index, axis=axis), axis=axis + 1)

    def pool(self, inputs, row_bounds, col_bounds):
        """Max over the regions cut by the given boundary sequences (length N_out + 1 each)."""
        x = self._max_along(inputs, row_bounds, 1, self.input_sizes[0])
        return self._max_along(x, col_bounds, 2, self.input_sizes[1])

    def call(self, inputs, training=None):
        return self.pool(inputs, *self.sample_boundaries(training))

    def compute_output_shape(self, input_shape):
        rows, cols = (output_size(s, r) for s, r in zip(input_shape[1:3], self.pooling_ratio))
        return (input_shape[0], rows, cols, input_shape[3])

    def get_config(self):
        return {
            **super().get_config(),
            "pooling_ratio": list(self.pooling_ratio),
            "pseudo_random": self.pseudo_random,
            "overlapping": self.overlapping,
            "seed": self.seed,
        }
