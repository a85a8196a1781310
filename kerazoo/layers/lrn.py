"""Local response normalization across channels (Krizhevsky, Sutskever and Hinton, 2012, section 3.3)."""

import numbers

import keras
from keras import ops


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@keras.saving.register_keras_serializable(package="kerazoo")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's "brightness normalization" over neighbouring channels (the last axis):

        b[..., i] = a[..., i] / (bias + alpha * sum_{j = i - depth_radius}^{i + depth_radius} a[..., j] ** 2) ** beta

    where the sum runs over the channels that exist (the window is clipped at the first and last channel). This is
    the paper's formula with n = 2 * depth_radius + 1 and the same convention as TensorFlow's
    ``tf.nn.local_response_normalization``: ``alpha`` multiplies the plain sum. Caffe and PyTorch divide ``alpha`` by
    the window size ``n``; to reproduce their ``alpha_caffe`` pass ``alpha=alpha_caffe / n``. The defaults are the
    paper's (n = 5, k = 2, alpha = 1e-4, beta = 0.75). The layer has no weights.

    Args:
        depth_radius: half-width of the channel window (n = 2 * depth_radius + 1), a non-negative integer.
        bias: the additive constant k, a positive number (keeps the denominator positive).
        alpha: the scale of the sum of squares, a non-negative number.
        beta: the exponent, a non-negative number.
    """

    def __init__(self, depth_radius: int = 2, bias: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(depth_radius, numbers.Integral) or isinstance(depth_radius, bool) or depth_radius < 0:
            raise ValueError(
                f"Invalid depth_radius: expected a non-negative integer. Received: depth_radius={depth_radius!r}"
            )
        if not _is_number(bias) or not bias > 0:
            raise ValueError(f"Invalid bias: expected a positive number. Received: bias={bias!r}")
        if not _is_number(alpha) or not alpha >= 0:
            raise ValueError(f"Invalid alpha: expected a non-negative number. Received: alpha={alpha!r}")
        if not _is_number(beta) or not beta >= 0:
            raise ValueError(f"Invalid beta: expected a non-negative number. Received: beta={beta!r}")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "LocalResponseNormalization needs a known number of channels (last axis). "
                f"Received: input_shape={tuple(input_shape)!r}"
            )

    def call(self, inputs):
        channels = inputs.shape[-1]
        r = self.depth_radius
        squares = ops.square(inputs)
        if r:
            # Zero channels on both sides, then add the 2r + 1 shifted copies: exact, and the same on every backend.
            padded = ops.pad(squares, [[0, 0]] * (len(inputs.shape) - 1) + [[r, r]])
            window_sum = padded[..., 0:channels]
            for shift in range(1, 2 * r + 1):
                window_sum = window_sum + padded[..., shift : shift + channels]
        else:
            window_sum = squares
        return inputs / ops.power(self.bias + self.alpha * window_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
