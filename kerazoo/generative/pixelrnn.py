"""A small PixelRNN with Row LSTM layers (van den Oord, Kalchbrenner and Kavukcuoglu, Pixel Recurrent Neural Networks,
ICML 2016, section 3.1).

A Row LSTM processes the image one row at a time, top to bottom. Its input-to-state part is a 1x3 mask-"B"
convolution along the row (so the state at (i, j) sees the layer's input at (i, <=j)); its state-to-state part is a
1-D convolution of width 3 over the previous row's hidden states, so the receptive field grows as a triangle above
each pixel. Every pixel it sees comes before (i, j) in raster order, and a 7x7 mask-"A" convolution in front keeps
the pixel itself out: the model has the same exact likelihood and sampling as PixelCNN (``kerazoo.generative.pixelcnn``).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerazoo.applications.registry import register_model
from kerazoo.generative.common import PixelScale, register_family
from kerazoo.generative.pixelcnn import AutoregressiveFamily, autoregressive_head, check_levels_and_shape
from kerazoo.layers.masked_conv import MaskedConv2D

__all__ = ["PixelRNN", "RowLSTM"]


@keras.saving.register_keras_serializable(package="kerazoo")
class RowLSTM(keras.layers.Layer):
    """The Row LSTM layer: (batch, H, W, C) → (batch, H, W, units), row by row (the rows are unrolled: H is static).

    Args:
        units: width of the hidden and cell states.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Invalid units: expected a positive integer. Received: units={units!r}")
        self.units = units
        self.input_to_state = MaskedConv2D(4 * units, (1, 3), mask_type="B", name="input_to_state")
        self.state_to_state = keras.layers.Conv1D(4 * units, 3, padding="same", use_bias=False, name="state_to_state")

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ValueError(f"RowLSTM needs a known image height. Received: input_shape={tuple(input_shape)!r}")
        self.input_to_state.build(input_shape)
        self.state_to_state.build((input_shape[0], input_shape[2], self.units))

    def call(self, inputs):
        gates_from_input = self.input_to_state(inputs)  # (B, H, W, 4u), all rows at once
        hidden = ops.zeros_like(gates_from_input[:, 0, :, : self.units])
        cell = hidden
        rows = []
        for i in range(inputs.shape[1]):
            gates = gates_from_input[:, i] + self.state_to_state(hidden)
            input_gate, forget_gate, output_gate, candidate = ops.split(gates, 4, axis=-1)
            cell = ops.sigmoid(forget_gate) * cell + ops.sigmoid(input_gate) * ops.tanh(candidate)
            hidden = ops.sigmoid(output_gate) * ops.tanh(cell)
            rows.append(hidden)
        return ops.stack(rows, axis=1)

    def flops(self, input_shape):
        """FLOPs per image (``kerazoo.applications.flops``' protocol): the 1x3 input-to-state convolution over the
        image, and the width-3 state-to-state convolution once per row."""
        height, width = input_shape[1:3]
        kernels = math.prod(self.input_to_state.kernel.shape) + math.prod(self.state_to_state.kernel.shape)
        return 2 * height * width * kernels

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register_model(family="pixelrnn", paper="van den Oord et al., Pixel Recurrent Neural Networks", year=2016,
                input_shape=(28, 28, 1), dataset="fashion_mnist", task="generative", min_input_size=4)
def PixelRNN(*, input_shape=(28, 28, 1), levels: int = 2, units: int = 32, row_lstm_layers: int = 2,
             head_filters: int = 64, name: str = "pixelrnn"):
    """PixelRNN (Row LSTM): raw 0-255 pixels → per-pixel logits of p(x_i | x_<i).

    Args:
        input_shape: (height, width, channels) of the images.
        levels: 2 (binarized; Bernoulli logits) or 256 (8-bit; 256-way softmax logits).
        units: the Row LSTMs' state width (the mask-A convolution has 2 * units channels, the residual width).
        row_lstm_layers: number of Row LSTM layers, each with a residual connection (1x1 back to 2 * units).
        head_filters: width of the 1x1 output layers.
        name: the model's name.
    """
    input_shape = check_levels_and_shape(levels, input_shape)
    images = keras.Input(shape=input_shape, name="images")
    x = PixelScale(levels, name="scale")(images)
    x = MaskedConv2D(2 * units, 7, mask_type="A", name="stem_masked_conv")(x)
    for k in range(row_lstm_layers):
        y = RowLSTM(units, name=f"row_lstm{k + 1}")(x)
        y = keras.layers.Conv2D(2 * units, 1, name=f"row_lstm{k + 1}_proj")(y)
        x = keras.layers.Add(name=f"row_lstm{k + 1}_add")([x, y])
    logits = autoregressive_head(x, filters=head_filters, channels=input_shape[-1], levels=levels)
    return keras.Model(images, logits, name=name)


register_family("pixelrnn", AutoregressiveFamily())
