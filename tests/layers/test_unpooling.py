"""Max pooling with argmax and max-unpooling: values go back to where the maxima were."""

import keras
import numpy as np
import pytest

from kerazoo.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D


def test_pooling_matches_numpy_and_unpooling_restores_argmax_positions():
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype("float32")
    pooled, indices = MaxPoolingWithArgmax2D(2, name="pool")(x)
    windows = x.reshape(2, 3, 2, 2, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 3, 2, 3, 4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pooled), windows.max(-1))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(indices), windows.argmax(-1))
    restored = keras.ops.convert_to_numpy(MaxUnpooling2D(2, name="unpool")([pooled, indices]))
    # Exactly the window maxima survive, in place; everything else is zero.
    is_max = x == np.repeat(np.repeat(windows.max(-1), 2, axis=1), 2, axis=2)
    np.testing.assert_array_equal(restored, np.where(is_max, x, 0))


def test_odd_sizes_pad_then_crop():
    x = np.arange(1, 26, dtype="float32").reshape(1, 5, 5, 1)
    pooled, indices = MaxPoolingWithArgmax2D(2, name="pool_odd")(x)
    assert pooled.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(pooled)[0, :, :, 0], [[7, 9, 10], [17, 19, 20],
                                                                                    [22, 24, 25]])
    restored = keras.ops.convert_to_numpy(MaxUnpooling2D(2, size=(5, 5), name="unpool_odd")([pooled, indices]))
    assert restored.shape == (1, 5, 5, 1)
    assert restored[0, 4, 4, 0] == 25 and restored[0, 1, 1, 0] == 7 and restored[0, 0, 0, 0] == 0


def test_serializes_and_rejects_bad_pool_size(tmp_path):
    inputs = keras.Input((4, 4, 2), name="images")
    pooled, indices = MaxPoolingWithArgmax2D(2, name="pool")(inputs)
    outputs = MaxUnpooling2D(2, size=(4, 4), name="unpool")([pooled * 2.0, indices])
    model = keras.Model(inputs, outputs)
    path = str(tmp_path / "m.keras")
    model.save(path)
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 2)).astype("float32")
    reloaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="pool_size"):
        MaxPoolingWithArgmax2D(0)
