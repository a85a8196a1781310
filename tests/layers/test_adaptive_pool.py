"""AdaptiveAveragePooling2D: PyTorch's AdaptiveAvgPool2d in Keras."""

import keras
import numpy as np
import pytest

from kerazoo.layers import AdaptiveAveragePooling2D


@pytest.mark.parametrize("height, width, output_size", [(2, 2, 7), (13, 11, 6), (7, 7, 7), (10, 5, 3), (1, 1, 6)])
def test_matches_torch_adaptive_avg_pool(height, width, output_size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype("float32")
    ours = np.asarray(AdaptiveAveragePooling2D(output_size)(x))
    with torch.no_grad():
        pooled = torch.nn.AdaptiveAvgPool2d(output_size)(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(ours, pooled.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)


def test_identity_at_the_output_size_and_round_trips_keras_format(tmp_path):
    inputs = keras.Input((7, 7, 4))
    model = keras.Model(inputs, AdaptiveAveragePooling2D(7, name="pool")(inputs))
    x = np.random.default_rng(1).normal(size=(1, 7, 7, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), x)
    model.save(tmp_path / "pool.keras")
    reloaded = keras.saving.load_model(tmp_path / "pool.keras")
    assert reloaded.get_layer("pool").output_size == 7
    np.testing.assert_array_equal(np.asarray(reloaded(x)), x)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="Received: output_size=0"):
        AdaptiveAveragePooling2D(0)
    with pytest.raises(ValueError, match="known height and width"):
        AdaptiveAveragePooling2D(7)(keras.Input((None, None, 3)))
