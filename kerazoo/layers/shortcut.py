"""The parameter-free "option A" shortcut of the CIFAR ResNets (He et al., 2016, section 4.2)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerazoo")
class ZeroPadShortcut(keras.layers.Layer):
    """Identity shortcut that subsamples by ``stride`` and zero-pads the channels up to ``filters``.

    Args:
        filters: output channels (>= input channels).
        stride: spatial subsampling factor.
    """

    def __init__(self, filters: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.stride = int(stride)

    def build(self, input_shape):
        if input_shape[-1] > self.filters:
            raise ValueError(
                f"ZeroPadShortcut cannot shrink channels: input has {input_shape[-1]}, filters={self.filters}."
            )

    def call(self, inputs):
        x = inputs[:, :: self.stride, :: self.stride, :]
        extra = self.filters - inputs.shape[-1]
        if extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return x

    def compute_output_shape(self, input_shape):
        def sub(d):
            return None if d is None else -(-d // self.stride)

        return (input_shape[0], sub(input_shape[1]), sub(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}
