"""LocalResponseNormalization against a NumPy transcription of the AlexNet paper's formula (section 3.3)."""

import keras
import numpy as np
import pytest

from kerazoo.layers import LocalResponseNormalization


def lrn_reference(a, depth_radius, bias, alpha, beta):
    """b^i = a^i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} (a^j)^2)^beta, channel by channel."""
    channels = a.shape[-1]
    out = np.empty_like(a, dtype=np.float64)
    for i in range(channels):
        lo, hi = max(0, i - depth_radius), min(channels - 1, i + depth_radius)
        sum_sq = np.sum(a[..., lo : hi + 1].astype(np.float64) ** 2, axis=-1)
        out[..., i] = a[..., i] / (bias + alpha * sum_sq) ** beta
    return out


@pytest.mark.parametrize(
    "depth_radius, bias, alpha, beta, channels",
    [
        (2, 2.0, 1e-4, 0.75, 16),  # AlexNet's n=5, k=2, alpha=1e-4, beta=0.75
        (2, 1.0, 2e-5, 0.75, 12),  # GoogLeNet's Caffe values in this convention
        (0, 1.0, 0.5, 0.5, 4),  # window of one channel
        (3, 0.5, 0.3, 1.0, 3),  # window wider than the channels
        (1, 1.0, 1.0, 0.0, 5),  # beta = 0 is the identity
    ],
)
def test_matches_numpy_reference(depth_radius, bias, alpha, beta, channels):
    # Large activations so that the normalization is far from the identity.
    x = np.random.default_rng(1).normal(0, 20, size=(2, 3, 4, channels)).astype("float32")
    layer = LocalResponseNormalization(depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)
    got = keras.ops.convert_to_numpy(layer(x))
    want = lrn_reference(x, depth_radius, bias, alpha, beta)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, x) or beta == 0.0


def test_defaults_are_the_papers_and_layer_has_no_weights():
    layer = LocalResponseNormalization()
    assert (layer.depth_radius, layer.bias, layer.alpha, layer.beta) == (2, 2.0, 1e-4, 0.75)
    model = keras.Sequential([keras.Input((5, 5, 8)), layer])
    assert model.count_params() == 0
    assert model.output_shape == (None, 5, 5, 8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth_radius": -1}, "Invalid depth_radius: expected a non-negative integer. Received: depth_radius=-1"),
        ({"depth_radius": 1.5}, "Received: depth_radius=1.5"),
        ({"bias": 0.0}, "Invalid bias: expected a positive number. Received: bias=0.0"),
        ({"alpha": -1e-4}, "Invalid alpha: expected a non-negative number. Received: alpha=-0.0001"),
        ({"beta": "big"}, "Invalid beta: expected a non-negative number. Received: beta='big'"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        LocalResponseNormalization(**kwargs)


def test_config_and_keras_round_trip(tmp_path):
    layer = LocalResponseNormalization(depth_radius=3, bias=1.5, alpha=2e-3, beta=0.6, name="lrn")
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert (clone.depth_radius, clone.bias, clone.alpha, clone.beta) == (3, 1.5, 2e-3, 0.6)
    inputs = keras.Input((4, 4, 10))
    model = keras.Model(inputs, LocalResponseNormalization(depth_radius=3, alpha=0.1, name="lrn")(inputs))
    path = tmp_path / "lrn.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(2).normal(0, 5, size=(1, 4, 4, 10)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(x)), lrn_reference(x, 3, 2.0, 0.1, 0.75), rtol=1e-5, atol=1e-6
    )
