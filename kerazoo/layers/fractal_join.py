"""FractalNet's join with drop-path (Larsson, Maire and Shakhnarovich, "FractalNet: Ultra-Deep Neural Networks
without Residuals", 2017, section 3.1).

A join merges the columns of a fractal block by their element-wise mean. Drop-path regularizes it during training,
per sample, in one of two modes:

- local: the join drops each of its inputs independently with probability ``rate`` and averages the survivors,
  keeping at least one input (if every input drew "drop", one of them, chosen uniformly, is kept);
- global: one column is chosen for the whole network, and every join passes that column's input through alone.

``FractalPathSampler`` draws the mode and the global column once per sample for the whole network; every
``FractalJoin`` reads that draw. At inference both layers are inert: a join is the plain mean of all its inputs.
"""

import keras
from keras import ops

LOCAL = -1  # the sampler's value for "this sample uses local drop-path"


def _check_probability(arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"Invalid {arg}: expected a probability in [0, 1]. Received: {arg}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="kerazoo")
class FractalPathSampler(keras.layers.Layer):
    """Draws, per sample, whether drop-path is global (one column for the whole network) or local.

    Call it on any batch-major tensor (the images); it returns an int32 vector of length batch: the chosen column
    index (0 = the shallowest column) for a globally sampled sample, ``-1`` for a locally sampled one. At inference
    every entry is ``-1``.

    Args:
        columns: number of columns of the fractal network (>= 1).
        global_ratio: probability that a sample uses global drop-path, in [0, 1]. The paper mixes 50 % global and
            50 % local sampling.
        seed: optional integer seed.
    """

    def __init__(self, columns: int, global_ratio: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
            raise ValueError(f"Invalid columns: expected an integer >= 1. Received: columns={columns!r}")
        self.columns = columns
        self.global_ratio = _check_probability("global_ratio", global_ratio)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        batch = ops.shape(inputs)[0]
        local = ops.full((batch,), LOCAL, dtype="int32")
        if not training or self.global_ratio == 0.0:
            return local
        use_global = keras.random.uniform((batch,), seed=self.seed_generator) < self.global_ratio
        column = keras.random.randint((batch,), 0, self.columns, dtype="int32", seed=self.seed_generator)
        return ops.where(use_global, column, local)

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor((inputs.shape[0],), dtype="int32")

    def get_config(self):
        return {
            **super().get_config(),
            "columns": self.columns,
            "global_ratio": self.global_ratio,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="kerazoo")
class FractalJoin(keras.layers.Layer):
    """Element-wise mean of its inputs, with local and global drop-path during training.

    Call it as ``FractalJoin(...)(tensors)`` or ``FractalJoin(...)(tensors, path)`` with ``path`` the output of a
    ``FractalPathSampler``. Without ``path`` every sample uses local drop-path.

    Args:
        rate: local drop-path probability of each input, in [0, 1] (the paper uses 0.15). At least one input is
            always kept.
        column_ids: the network column each input comes from, one integer per input, so that global drop-path can
            pass the sampled column through. Default ``0, 1, ..., n - 1``. When the sampled column is not among a
            join's inputs, the join averages them all: that join then feeds only columns the sample does not use.
        seed: optional integer seed.
    """

    def __init__(self, rate: float = 0.15, column_ids=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_probability("rate", rate)
        if column_ids is not None:
            column_ids = tuple(column_ids)
            if not column_ids or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in column_ids):
                raise ValueError(
                    "Invalid column_ids: expected a non-empty sequence of column indices >= 0. "
                    f"Received: column_ids={column_ids!r}"
                )
            if len(set(column_ids)) != len(column_ids):
                raise ValueError(f"Invalid column_ids: expected distinct indices. Received: column_ids={column_ids!r}")
        self.column_ids = column_ids
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):  # one argument: Keras passes the shape of `inputs` only
        if not (isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple))):
            raise ValueError(
                f"Invalid inputs: expected a list of tensors to join. Received: input_shape={input_shape!r}"
            )
        shapes = {tuple(s) for s in input_shape}
        if len({s[1:] for s in shapes}) != 1:
            raise ValueError(f"Invalid inputs: expected tensors of one shape. Received: input_shape={input_shape!r}")
        if self.column_ids is not None and len(self.column_ids) != len(input_shape):
            raise ValueError(
                f"Invalid column_ids: expected one index per input ({len(input_shape)}). "
                f"Received: column_ids={self.column_ids!r}"
            )

    def _weights(self, batch, n, path, dtype):
        """(batch, n) 0/1 weights of the inputs for one training call."""
        keep = ops.cast(keras.random.uniform((batch, n), seed=self.seed_generator) >= self.rate, dtype)
        # Where every input drew "drop", keep one chosen uniformly at random.
        fallback = ops.one_hot(
            keras.random.randint((batch,), 0, n, dtype="int32", seed=self.seed_generator), n, dtype=dtype
        )
        weights = ops.where(ops.sum(keep, axis=1, keepdims=True) > 0, keep, fallback)
        if path is None:
            return weights
        ids = ops.convert_to_tensor(self.column_ids or tuple(range(n)), dtype="int32")
        chosen = ops.cast(ops.equal(ops.expand_dims(path, 1), ops.expand_dims(ids, 0)), dtype)
        has_chosen = ops.sum(chosen, axis=1, keepdims=True) > 0
        global_weights = ops.where(has_chosen, chosen, ops.ones_like(chosen))
        return ops.where(ops.expand_dims(path >= 0, 1), global_weights, weights)

    def call(self, inputs, path=None, training=None):
        inputs = list(inputs)
        n = len(inputs)
        if n == 1:
            return inputs[0]
        if not training or (self.rate == 0.0 and path is None):
            return ops.mean(ops.stack(inputs, axis=0), axis=0)
        x = ops.stack(inputs, axis=1)  # (batch, n, ...)
        weights = self._weights(ops.shape(x)[0], n, path, x.dtype)
        for _ in range(len(x.shape) - 2):
            weights = ops.expand_dims(weights, -1)
        return ops.sum(x * weights, axis=1) / ops.sum(weights, axis=1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "column_ids": list(self.column_ids) if self.column_ids is not None else None,
            "seed": self.seed,
        }
