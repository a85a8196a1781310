"""DropConnectDense (Wan et al., 2013): weights, not activations, are dropped in training; inference is Dense."""

import keras
import numpy as np
import pytest

from kerazoo.layers import DropConnectDense


def numpy_dense(layer, x):
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
    return x @ kernel + bias


def test_inference_is_the_plain_dense_layer():
    layer = DropConnectDense(5, rate=0.5, activation="relu", bias_initializer="random_normal", seed=0)
    layer.build((None, 3))
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    expected = np.maximum(numpy_dense(layer, x), 0)  # no mask and no 1 / (1 - rate) factor
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(layer(x, training=True), expected)


@pytest.mark.parametrize("per_sample", [False, True])
def test_training_drops_single_weights_and_rescales_the_kept_ones(per_sample):
    rate, units, inputs = 0.5, 64, 6
    layer = DropConnectDense(units, rate=rate, per_sample=per_sample, bias_initializer="ones", seed=1)
    layer.build((None, inputs))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
    # Input e_i isolates row i of the kernel: output j is b_j + m_ij W_ij / (1 - rate), with m_ij in {0, 1}.
    x = np.eye(inputs, dtype="float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    kept = np.isclose(out, bias + kernel / (1 - rate), rtol=1e-5, atol=1e-6)
    dropped = np.isclose(out, bias, rtol=1e-5, atol=1e-6)
    assert np.all(kept | dropped)
    # Weights drop one by one: every row loses some connections and keeps others (dropout on the inputs would
    # zero whole rows, dropout on the outputs would zero the bias too).
    assert np.all(dropped.any(axis=1)) and np.all(kept.any(axis=1))
    assert abs(dropped.mean() - rate) < 0.08


def test_mask_per_call_or_per_sample():
    x = np.ones((8, 10), "float32")
    shared = keras.ops.convert_to_numpy(DropConnectDense(16, rate=0.5, seed=2)(x, training=True))
    np.testing.assert_allclose(shared, np.broadcast_to(shared[0], shared.shape), rtol=1e-6)  # one mask per batch
    own = keras.ops.convert_to_numpy(DropConnectDense(16, rate=0.5, per_sample=True, seed=2)(x, training=True))
    assert all(not np.allclose(own[i], own[j]) for i in range(8) for j in range(i))  # a fresh mask per sample
    # Inputs of higher rank, as for Dense.
    assert tuple(DropConnectDense(4, rate=0.3, per_sample=True)(np.ones((2, 5, 3), "float32"), training=True).shape) \
        == (2, 5, 4)


def test_training_output_is_unbiased():
    layer = DropConnectDense(3, rate=0.3, per_sample=True, seed=3)
    x = np.tile(np.random.default_rng(3).normal(size=(1, 20)).astype("float32"), (4000, 1))
    mean_train = keras.ops.convert_to_numpy(layer(x, training=True)).mean(axis=0)
    np.testing.assert_allclose(mean_train, keras.ops.convert_to_numpy(layer(x[:1]))[0], atol=0.1)


def test_trains_and_round_trips(tmp_path):
    model = keras.Sequential([keras.Input((6,)), DropConnectDense(8, rate=0.4, activation="relu", name="dc"),
                              keras.layers.Dense(2, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(4).normal(size=(16, 6)).astype("float32")
    assert np.isfinite(model.train_on_batch(x, np.zeros((16, 2), "float32")))
    model.save(tmp_path / "dc.keras")
    reloaded = keras.saving.load_model(tmp_path / "dc.keras", safe_mode=True)
    config = reloaded.get_layer("dc").get_config()
    assert (config["rate"], config["per_sample"], config["units"]) == (0.4, False, 8)
    np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 1.0}, r"Invalid rate: expected a probability in \[0, 1\). Received: rate=1.0"),
        ({"rate": -0.1}, r"Received: rate=-0.1"),
        ({"per_sample": "yes"}, r"Invalid per_sample: expected True or False. Received: per_sample='yes'"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DropConnectDense(4, **kwargs)
