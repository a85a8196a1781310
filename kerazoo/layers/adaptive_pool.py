"""Average pooling to a fixed output size, as PyTorch's ``AdaptiveAvgPool2d`` (torchvision's VGG and AlexNet)."""

import math

import keras
import numpy as np
from keras import ops


def adaptive_bins(size: int, output_size: int) -> np.ndarray:
    """The (output_size, size) averaging matrix of PyTorch's adaptive pooling along one axis.

    Output cell i averages inputs floor(i * size / output_size) to ceil((i + 1) * size / output_size) - 1; bins
    overlap when the sizes do not divide, and repeat inputs when the output is larger.
    """
    matrix = np.zeros((output_size, size), dtype="float32")
    for i in range(output_size):
        start, end = (i * size) // output_size, math.ceil((i + 1) * size / output_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="kerazoo")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average-pools a channels-last feature map of known size to ``output_size`` x ``output_size``.

    The identity when the map already has that size (VGG at 224x224 to 7x7, torchvision's AlexNet to 6x6), so a
    classifier head after it takes any input size, as in torchvision.

    Args:
        output_size: the side of the output map.
    """

    def __init__(self, output_size: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(output_size, int) or isinstance(output_size, bool) or output_size < 1:
            raise ValueError(f"Invalid output_size: expected a positive integer. Received: output_size={output_size!r}")
        self.output_size = output_size

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                f"AdaptiveAveragePooling2D needs a 4-D channels-last input of known height and width. Received: "
                f"input_shape={tuple(input_shape)}"
            )
        self._rows = adaptive_bins(int(input_shape[1]), self.output_size)
        self._cols = adaptive_bins(int(input_shape[2]), self.output_size)

    def call(self, inputs):
        if inputs.shape[1] == inputs.shape[2] == self.output_size:
            return inputs
        rows = ops.convert_to_tensor(self._rows, dtype=inputs.dtype)
        cols = ops.convert_to_tensor(self._cols, dtype=inputs.dtype)
        x = ops.einsum("ih,bhwc->biwc", rows, inputs)
        return ops.einsum("jw,biwc->bijc", cols, x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_size, self.output_size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}
