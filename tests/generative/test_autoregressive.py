"""Masked convolutions, PixelCNN and PixelRNN: causality, exact likelihood, compiled sampling, save/reload, training."""

import math

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model
from kerazoo.generative import sample_autoregressive
from kerazoo.layers import MaskedConv2D, causal_mask
from kerazoo.losses.generative import PixelNLL, pixel_nll

SIDE = 6


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_masks_by_hand():
    np.testing.assert_array_equal(causal_mask((3, 3), "A"), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(causal_mask((3, 3), "B"), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(causal_mask((1, 3), "B"), [[1, 1, 0]])
    with pytest.raises(ValueError, match="Received: mask_type='C'"):
        MaskedConv2D(4, 3, mask_type="C")
    with pytest.raises(ValueError, match="odd sizes"):
        MaskedConv2D(4, 2)
    with pytest.raises(ValueError, match="strides"):
        MaskedConv2D(4, 3, strides=2)


def _dependence(fn, shape, position):
    """For every pixel, whether fn's output at ``position`` (i, j) changes when that pixel changes."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, size=(1, *shape)).astype("float32")
    reference = _np(fn(base))[0, position[0], position[1]]
    changed = np.zeros(shape[:2], bool)
    for i in range(shape[0]):
        for j in range(shape[1]):
            moved = base.copy()
            moved[0, i, j] = 255.0 - moved[0, i, j]
            changed[i, j] = not np.allclose(_np(fn(moved))[0, position[0], position[1]], reference, atol=1e-6)
    return changed


def _raster_index(shape):
    return np.arange(shape[0] * shape[1]).reshape(shape[:2])


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_sees_only_earlier_pixels(mask_type):
    shape = (5, 5, 2)
    layer = MaskedConv2D(3, 3, mask_type=mask_type, name=f"masked_{mask_type}", kernel_initializer="ones")
    position = (2, 2)
    changed = _dependence(layer, shape, position)
    t = _raster_index(shape)[position]
    order = _raster_index(shape)
    assert not changed[order > t].any(), "the output depends on a later pixel"
    assert changed[position] == (mask_type == "B")
    # The earlier pixels inside the 3x3 window all matter.
    window = np.zeros(shape[:2], bool)
    window[1:4, 1:4] = True
    assert changed[window & (order < t)].all()


@pytest.mark.parametrize("name, kwargs", [
    ("pixelcnn", {"filters": 4, "residual_blocks": 2, "head_filters": 8}),
    ("pixelrnn", {"units": 4, "row_lstm_layers": 1, "head_filters": 8}),
])
def test_models_are_causal(name, kwargs):
    """Output at a pixel never changes with it or later pixels, and changes with earlier ones (the receptive
    field of these small stacks covers every earlier pixel of a 6x6 image for PixelRNN, the nearby ones for PixelCNN)."""
    shape = (SIDE, SIDE, 1)
    model = create_model(name, input_shape=shape, levels=256, **kwargs)
    position = (3, 3)
    changed = _dependence(lambda x: model(x), shape, position)
    order, t = _raster_index(shape), _raster_index(shape)[position]
    assert not changed[order >= t].any()
    assert changed[3, 2] and changed[2, 3] and changed[2, 4]  # left neighbour, above, above-right
    if name == "pixelrnn":
        assert changed[order < t].sum() >= 10


def test_pixelcnn_nll_is_the_loss_and_bits_per_dim():
    model = create_model("pixelcnn", input_shape=(SIDE, SIDE, 1), levels=2, filters=4, residual_blocks=1)
    images = np.random.default_rng(1).uniform(0, 255, (3, SIDE, SIDE, 1)).astype("float32")
    logits = _np(model(images))
    assert logits.shape == (3, SIDE, SIDE, 1)
    nll = _np(pixel_nll(images, logits, levels=2))
    binary = (images >= 128).astype("float32")
    by_hand = -(binary * np.log(1 / (1 + np.exp(-logits))) + (1 - binary) * np.log(1 - 1 / (1 + np.exp(-logits))))
    np.testing.assert_allclose(nll, by_hand.reshape(3, -1).sum(axis=1), rtol=1e-4)
    assert float(PixelNLL(levels=2)(images, logits)) == pytest.approx(nll.mean(), rel=1e-5)
    assert create_model("pixelcnn", input_shape=(SIDE, SIDE, 1), levels=256, filters=4,
                        residual_blocks=1).output_shape == (None, SIDE, SIDE, 1, 256)
    with pytest.raises(ValueError, match="Received: levels=16"):
        create_model("pixelcnn", input_shape=(SIDE, SIDE, 1), levels=16)


@pytest.mark.parametrize("levels", [2, 256])
def test_sampling_shapes_values_and_seed(levels):
    model = create_model("pixelcnn", input_shape=(4, 4, 1), levels=levels, filters=4, residual_blocks=1)
    first = sample_autoregressive(model, 3, seed=5)
    assert first.shape == (3, 4, 4, 1) and first.dtype == np.uint8
    if levels == 2:
        assert set(np.unique(first)) <= {0, 255}
    np.testing.assert_array_equal(first, sample_autoregressive(model, 3, seed=5))
    with pytest.raises(ValueError, match="Received: n=0"):
        sample_autoregressive(model, 0)


def test_sampling_follows_the_conditionals():
    """A model whose logits favour level 255 everywhere samples (almost) only 255."""
    model = create_model("pixelcnn", input_shape=(4, 4, 1), levels=2, filters=4, residual_blocks=1)
    bias = model.get_layer("logits_conv").bias
    bias.assign(np.full(bias.shape, 12.0, "float32"))
    assert (sample_autoregressive(model, 4, seed=0) == 255).mean() > 0.99


def test_save_reload_gives_equal_outputs(tmp_path):
    model = create_model("pixelrnn", input_shape=(SIDE, SIDE, 1), units=4, row_lstm_layers=1, head_filters=8)
    images = np.random.default_rng(2).uniform(0, 255, (2, SIDE, SIDE, 1)).astype("float32")
    path = str(tmp_path / "pixelrnn.keras")
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(again(images)), _np(model(images)), atol=1e-6)


def test_seeded_short_training_lowers_the_nll():
    """20 Adam steps (eager: tracing costs more than these tiny steps) on 32 bar images: the NLL falls by over 40% of its starting value (a uniform model
    starts at 36 ln 2 = 25 nats per 6x6 binarized image)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 40, (32, SIDE, SIDE, 1)).astype("float32")
    images[:, 2:4, 1:5] = 250
    model = create_model("pixelcnn", input_shape=(SIDE, SIDE, 1), levels=2, filters=8, residual_blocks=1)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=PixelNLL(levels=2), run_eagerly=True)
    start = float(model.evaluate(images, images, verbose=0))
    assert start == pytest.approx(36 * math.log(2), rel=0.3)
    model.fit(np.concatenate([images] * 5), np.concatenate([images] * 5), batch_size=8, epochs=1, verbose=0)
    end = float(model.evaluate(images, images, verbose=0))
    assert end < 0.6 * start


def test_row_lstm_declares_its_flops():
    from kerazoo.applications.flops import count_flops
    from kerazoo.generative.pixelrnn import RowLSTM

    height, width, channels, units = 5, 6, 3, 4
    inputs = keras.Input((height, width, channels))
    model = keras.Model(inputs, RowLSTM(units)(inputs))
    # 1x3 input-to-state conv at every pixel; width-3 state-to-state conv on the previous row, once per row
    assert count_flops(model) == 2 * height * width * (3 * channels * 4 * units + 3 * units * 4 * units)
