"""Ternary and binary weights: values per layer after training, straight-through gradients, packing, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerazoo.layers.ternary import (QuantizedConv2D, QuantizedDense, pack_binary, pack_ternary, packed_size,
                                    quantized_codes, unpack_binary, unpack_ternary)


def quantized_cnn(mode):
    inputs = keras.Input((12, 12, 1), name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="normalize")(inputs)
    x = QuantizedConv2D(8, 3, strides=2, activation="relu", mode=mode, name="conv")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = QuantizedDense(4, mode=mode, name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{mode}_cnn")


def trained(mode, tiny_images):
    images, labels = tiny_images
    keras.utils.set_random_seed(0)
    model = quantized_cnn(mode)
    before = {name: np.asarray(model.get_layer(name).kernel).copy() for name in ("conv", "predictions")}
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(images, labels, batch_size=16, epochs=4, verbose=0)
    return model, before, history


@pytest.fixture(scope="module")
def tiny_images():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 64).astype(np.int32)
    images = rng.uniform(0, 40, (64, 12, 12, 1)).astype(np.float32)
    for i, label in enumerate(labels):
        images[i, label * 3 : label * 3 + 2, 1:-1] = 250.0  # the class is the row band of a bright bar
    return images, labels


@pytest.mark.parametrize("mode, count", [("ternary", 3), ("binary", 2)])
def test_kernels_take_exactly_three_or_two_values_after_training(mode, count, tiny_images):
    model, before, history = trained(mode, tiny_images)
    assert history.history["loss"][-1] < history.history["loss"][0]  # it trains through the quantizer
    for name in ("conv", "predictions"):
        layer = model.get_layer(name)
        assert not np.array_equal(np.asarray(layer.kernel), before[name])  # the latent kernel got gradients
        values = np.unique(np.asarray(layer.quantized_kernel()))
        assert len(values) == count, (name, values)
        codes, scales = quantized_codes(layer)
        if mode == "ternary":  # {-Wn, 0, Wp} with the learned scales
            np.testing.assert_allclose(values, [-scales[1], 0.0, scales[0]], rtol=1e-6)
            assert scales[0] != scales[1]  # learned separately
        else:
            np.testing.assert_allclose(values, [-scales[0], scales[0]], rtol=1e-6)
            assert np.abs(np.asarray(layer.kernel)).max() <= 1.0  # BinaryConnect's clip
    # the model computes with the quantized kernels: the same as a plain model holding them
    images = tiny_images[0][:8]
    plain = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Rescaling(1 / 255.0),
                              keras.layers.Conv2D(8, 3, strides=2, activation="relu"), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    plain.layers[1].set_weights([np.asarray(model.get_layer("conv").quantized_kernel()),
                                 np.asarray(model.get_layer("conv").bias)])
    plain.layers[3].set_weights([np.asarray(model.get_layer("predictions").quantized_kernel()),
                                 np.asarray(model.get_layer("predictions").bias)])
    np.testing.assert_allclose(plain(images), model(images), rtol=1e-5, atol=1e-5)


def test_ternary_gradients_follow_the_paper():
    layer = QuantizedDense(2, mode="ternary", use_bias=False)
    layer.build((None, 3))
    kernel = np.array([[1.0, -1.0], [0.01, 0.5], [-0.6, 0.02]], np.float32)  # threshold 0.05: 0.01, 0.02 are zero
    layer.kernel.assign(kernel)
    layer.positive_scale.assign(2.0)
    layer.negative_scale.assign(3.0)
    np.testing.assert_array_equal(np.asarray(layer.quantized_kernel()), [[2, -3], [0, 2], [-3, 0]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer.quantized_kernel())  # dL/d(quantized) = 1 everywhere
    d_kernel, d_positive, d_negative = tape.gradient(loss, [layer.kernel, layer.positive_scale, layer.negative_scale])
    np.testing.assert_array_equal(d_kernel, [[2, 3], [1, 2], [3, 1]])  # Wp / 1 / Wn by region
    assert float(d_positive) == 2.0 and float(d_negative) == -2.0


@pytest.mark.parametrize("shape", [(3, 3, 2, 5), (7,), (1,)])
def test_packing_round_trips_at_two_and_one_bits(shape):
    rng = np.random.default_rng(0)
    ternary = rng.integers(-1, 2, size=shape).astype(np.int8)
    data = pack_ternary(ternary)
    assert len(data) == -(-ternary.size // 4)
    np.testing.assert_array_equal(unpack_ternary(data, shape), ternary)
    binary = np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)
    data = pack_binary(binary)
    assert len(data) == -(-binary.size // 8)
    np.testing.assert_array_equal(unpack_binary(data, shape), binary)


def test_packed_size_against_float32(tiny_images):
    for mode, bits in (("ternary", 2), ("binary", 1)):
        model = quantized_cnn(mode)
        size = packed_size(model)
        weights = 3 * 3 * 1 * 8 + 200 * 4
        assert size["float32_bytes"] == 4 * weights
        scales = {"ternary": 8, "binary": 4}[mode] * 2  # float32 scales, two layers
        expected = -(-72 * bits // 8) + -(-800 * bits // 8) + scales
        assert size["packed_bytes"] == expected and size["ratio"] < bits / 32 + 0.02
        codes, scales = quantized_codes(model.get_layer("predictions"))
        restored = unpack_ternary(pack_ternary(codes), codes.shape) if mode == "ternary" else unpack_binary(
            pack_binary(codes), codes.shape)
        if mode == "ternary":
            kernel = np.where(restored > 0, scales[0], np.where(restored < 0, -scales[1], 0.0))
        else:
            kernel = restored * scales[0]
        np.testing.assert_allclose(kernel, model.get_layer("predictions").quantized_kernel(), rtol=1e-6)


def test_save_and_load_keep_mode_and_outputs(tmp_path, tiny_images):
    model = quantized_cnn("binary")
    path = str(tmp_path / "binary.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("conv").mode == "binary" and loaded.get_layer("predictions").threshold == 0.05
    np.testing.assert_allclose(loaded(tiny_images[0][:4]), model(tiny_images[0][:4]), rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "quaternary"}, "expected one of ternary, binary. Received: mode='quaternary'"),
    ({"threshold": 1.5}, "Received: threshold=1.5"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        QuantizedDense(4, **kwargs)
    with pytest.raises(ValueError, match="Invalid ternary codes"):
        pack_ternary(np.array([0, 2]))
    with pytest.raises(ValueError, match="do not hold"):
        unpack_binary(b"\x00", (9,))
