"""PixelCNN (van den Oord, Kalchbrenner and Kavukcuoglu, Pixel Recurrent Neural Networks, ICML 2016, section 3.5).

An explicit density: p(x) = prod_i p(x_i | x_<i) over pixels in raster order, each conditional a softmax over the
pixel's levels (256 for 8-bit data, a Bernoulli for binarized data). Causality comes from masked convolutions
(``kerazoo.layers.MaskedConv2D``): a 7x7 mask-"A" convolution, residual blocks of 1x1 → 3x3 mask-"B" → 1x1
convolutions (the paper's figure 5), then two 1x1 convolutions to the logits. The log-likelihood is exact: one
forward pass gives every conditional (``nll`` returns nats per image; bits/dim = nats / (H*W*C*ln 2)).

Sampling is sequential (one pixel at a time), run as one compiled loop (``sample_autoregressive``).

    model = create_model("pixelcnn", input_shape=(28, 28, 1), levels=2)   # raw pixels → logits
    model.compile(optimizer="adam", loss=PixelNLL(levels=2))               # fit(images, images)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerazoo.applications.registry import register_model
from kerazoo.generative.common import GenerativeFamily, PixelScale, compile_function, register_family, to_uint8
from kerazoo.layers.masked_conv import MaskedConv2D
from kerazoo.losses.generative import PixelNLL, bits_per_dim, pixel_nll

__all__ = ["PixelCNN", "autoregressive_head", "check_levels_and_shape", "sample_autoregressive",
           "AutoregressiveFamily"]


def check_levels_and_shape(levels, input_shape):
    if levels not in (2, 256):
        raise ValueError(f"Invalid levels: expected 2 (binarized) or 256 (8-bit). Received: levels={levels!r}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or any(not isinstance(s, int) or s < 1 for s in input_shape):
        raise ValueError(f"Invalid input_shape: expected (height, width, channels) of known sizes. "
                         f"Received: input_shape={input_shape!r}")
    return input_shape


def autoregressive_head(x, *, filters: int, channels: int, levels: int):
    """ReLU → 1x1 conv → ReLU → 1x1 conv to the logits: (H, W, C) for binarized data, (H, W, C, levels) else.
    (1x1 convolutions see only their own pixel, so they keep the causal order.)"""
    x = keras.layers.ReLU(name="head_relu1")(x)
    x = keras.layers.Conv2D(filters, 1, name="head_conv1")(x)
    x = keras.layers.ReLU(name="head_relu2")(x)
    per_pixel = channels if levels == 2 else channels * levels
    x = keras.layers.Conv2D(per_pixel, 1, name="logits_conv")(x)
    if levels != 2:
        x = keras.layers.Reshape((*x.shape[1:3], channels, levels), name="logits")(x)
    return x


def _residual_block(x, filters: int, name: str):
    """The paper's figure-5 block: 2h → ReLU 1x1 h → ReLU 3x3 mask B h → ReLU 1x1 2h, plus the input."""
    y = keras.layers.ReLU(name=f"{name}_relu1")(x)
    y = keras.layers.Conv2D(filters, 1, name=f"{name}_conv1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = MaskedConv2D(filters, 3, mask_type="B", name=f"{name}_masked_conv")(y)
    y = keras.layers.ReLU(name=f"{name}_relu3")(y)
    y = keras.layers.Conv2D(2 * filters, 1, name=f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


@register_model(family="pixelcnn", paper="van den Oord et al., Pixel Recurrent Neural Networks", year=2016,
                input_shape=(28, 28, 1), dataset="fashion_mnist", task="generative", min_input_size=4)
def PixelCNN(*, input_shape=(28, 28, 1), levels: int = 2, filters: int = 32, residual_blocks: int = 5,
             head_filters: int = 64, name: str = "pixelcnn"):
    """PixelCNN: raw 0-255 pixels → per-pixel logits of p(x_i | x_<i).

    Args:
        input_shape: (height, width, channels) of the images.
        levels: 2 (pixels binarized at 128; Bernoulli logits) or 256 (8-bit; 256-way softmax logits).
        filters: h, the residual blocks' width (their input and output have 2h channels).
        residual_blocks: number of residual blocks after the 7x7 mask-A convolution.
        head_filters: width of the 1x1 output layers.
        name: the model's name.
    """
    input_shape = check_levels_and_shape(levels, input_shape)
    images = keras.Input(shape=input_shape, name="images")
    x = PixelScale(levels, name="scale")(images)
    x = MaskedConv2D(2 * filters, 7, mask_type="A", name="stem_masked_conv")(x)
    for b in range(residual_blocks):
        x = _residual_block(x, filters, name=f"block{b + 1}")
    logits = autoregressive_head(x, filters=head_filters, channels=input_shape[-1], levels=levels)
    return keras.Model(images, logits, name=name)


def _levels_of(model) -> int:
    return 2 if len(model.output_shape) == 4 else int(model.output_shape[-1])


def sample_autoregressive(model: keras.Model, n: int, *, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """Draw ``n`` images pixel by pixel in raster order from an autoregressive model (raw pixels → logits).

    Each step runs the whole network on the partial images and samples one pixel (all its channels) by inverting
    its CDF with a pre-drawn uniform. The H*W steps run in one compiled ``fori_loop``: one Python call in all.

    Returns:
        uint8 images (n, H, W, C) with values in {0, 255} (binarized) or 0..255.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"Invalid n: expected a positive integer. Received: n={n!r}")
    if not temperature > 0:
        raise ValueError(f"Invalid temperature: expected a value > 0. Received: temperature={temperature!r}")
    height, width, channels = model.input_shape[1:]
    levels = _levels_of(model)
    pixels = height * width
    uniforms = keras.random.uniform((pixels, n, channels, 1), seed=seed)
    values = ops.cast(ops.arange(levels), "float32") * (255.0 / (levels - 1))  # level → raw pixel value

    def step(t, images):
        logits = model(images, training=False)
        logits = ops.reshape(logits, (n, pixels, channels, -1))
        logits = ops.take(logits, t, axis=1) / temperature  # (n, C, levels or 1)
        probs = ops.sigmoid(logits) if levels == 2 else ops.softmax(logits, axis=-1)
        if levels == 2:
            probs = ops.concatenate([1.0 - probs, probs], axis=-1)
        below = ops.cumsum(probs, axis=-1) < ops.take(uniforms, t, axis=0)
        level = ops.minimum(ops.sum(ops.cast(below, "int32"), axis=-1), levels - 1)  # (n, C)
        pixel = ops.take(values, level)
        at_t = ops.reshape(ops.one_hot(t, pixels), (1, height, width, 1))
        return images * (1.0 - at_t) + at_t * pixel[:, None, None, :]

    def run(start):
        return ops.fori_loop(0, pixels, step, start)

    images = compile_function(run)(ops.zeros((n, height, width, channels), dtype="float32"))
    return to_uint8(images)


class AutoregressiveFamily(GenerativeFamily):
    """PixelCNN and PixelRNN: trained on exact NLL; evaluated in nats/image and bits/dim; sampled pixel by pixel."""

    def compile(self, model, optimizer, config):
        model.compile(optimizer=optimizer, loss=PixelNLL(levels=_levels_of(model)), jit_compile=config.jit_compile,
                      steps_per_execution=config.steps_per_execution)

    def evaluate(self, model, dataset, config):
        levels, dims = _levels_of(model), int(np.prod(model.input_shape[1:]))
        total, count = 0.0, 0
        for images, _ in dataset:
            total += float(ops.sum(pixel_nll(images, model(images, training=False), levels=levels)))
            count += int(images.shape[0])
        nats = total / count
        return {"examples": count, "levels": levels, "nll_nats_per_image": nats, "bits_per_dim": bits_per_dim(nats, dims)}

    def sample(self, model, n, *, seed=0, labels=None):
        return sample_autoregressive(model, n, seed=seed)


register_family("pixelcnn", AutoregressiveFamily())
