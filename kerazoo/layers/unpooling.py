"""Max pooling that remembers where each maximum was, and the unpooling that puts values back there.

SegNet (Badrinarayanan et al., "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image Segmentation",
2017) upsamples its decoder by writing each value at the position its encoder's max-pooling took the maximum from,
and zeros elsewhere: sharp boundaries without learning an upsampling. ``tf.nn.max_pool_with_argmax`` is TensorFlow
only and Keras has no such layer, so both are written here with ``keras.ops`` (any backend).

Indices are local: for each output cell, the position (row * pool_size + col) of the maximum inside its
``pool_size`` x ``pool_size`` window. Heights and widths must be known when the model is built.
"""

import keras
from keras import ops

__all__ = ["MaxPoolingWithArgmax2D", "MaxUnpooling2D"]


def _check_pool_size(pool_size) -> int:
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ValueError(f"Invalid pool_size: expected a positive integer. Received: pool_size={pool_size!r}")
    return pool_size


def _cells(size: int, pool_size: int) -> int:
    return -(-size // pool_size)  # ceil: a partial window at the bottom/right edge still pools


@keras.saving.register_keras_serializable(package="kerazoo")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Non-overlapping max pooling (stride = pool size, "same" padding) returning ``[pooled, indices]``.

    ``indices`` (int32, same shape as ``pooled``) is the position of each maximum inside its window, row-major; the
    first maximum wins ties. Feed both, with the unpooled size, to :class:`MaxUnpooling2D`.

    Args:
        pool_size: side of the square window and the stride.
    """

    def __init__(self, pool_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _check_pool_size(pool_size)

    def build(self, input_shape):
        if input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a known height and width. "
                             f"Received: input_shape={input_shape}")

    def call(self, inputs):
        k = self.pool_size
        _, height, width, channels = inputs.shape
        rows, cols = _cells(height, k), _cells(width, k)
        x = inputs
        if (rows * k, cols * k) != (height, width):  # -inf padding never wins a window
            x = ops.pad(x, [[0, 0], [0, rows * k - height], [0, cols * k - width], [0, 0]],
                        constant_values=float("-inf"))
        x = ops.reshape(x, (-1, rows, k, cols, k, channels))
        x = ops.reshape(ops.transpose(x, (0, 1, 3, 5, 2, 4)), (-1, rows, cols, channels, k * k))
        return [ops.max(x, axis=-1), ops.cast(ops.argmax(x, axis=-1), "int32")]

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        shape = (batch, _cells(height, self.pool_size), _cells(width, self.pool_size), channels)
        return [shape, shape]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="kerazoo")
class MaxUnpooling2D(keras.layers.Layer):
    """Inverse of :class:`MaxPoolingWithArgmax2D`: ``[values, indices]`` → a map ``pool_size`` times larger with each
    value at its index's position in its window and zeros elsewhere, cropped to ``size``.

    Args:
        pool_size: the pooling's window side.
        size: (height, width) of the map before pooling (default: ``pool_size`` times the input's).
    """

    def __init__(self, pool_size: int = 2, size=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _check_pool_size(pool_size)
        self.size = None if size is None else tuple(int(s) for s in size)

    def _size(self, rows, cols):
        return self.size or (rows * self.pool_size, cols * self.pool_size)

    def call(self, inputs):
        values, indices = inputs
        k = self.pool_size
        _, rows, cols, channels = values.shape
        if tuple(indices.shape[1:]) != (rows, cols, channels):
            raise ValueError(f"{type(self).__name__} {self.name!r}: values {tuple(values.shape[1:])} and indices "
                             f"{tuple(indices.shape[1:])} must have the same shape.")
        spread = ops.one_hot(indices, k * k, dtype=values.dtype) * ops.expand_dims(values, -1)
        x = ops.reshape(spread, (-1, rows, cols, channels, k, k))
        x = ops.reshape(ops.transpose(x, (0, 1, 4, 2, 5, 3)), (-1, rows * k, cols * k, channels))
        height, width = self._size(rows, cols)
        return x[:, :height, :width, :]

    def compute_output_shape(self, input_shape):
        batch, rows, cols, channels = input_shape[0]
        return (batch, *self._size(rows, cols), channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "size": self.size}
