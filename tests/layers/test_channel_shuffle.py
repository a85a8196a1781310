"""ChannelShuffle and ChannelSplit against NumPy, their argument checks and their serialization."""

import keras
import numpy as np
import pytest

from kerazoo.layers import ChannelShuffle, ChannelSplit


def numpy_shuffle(x, groups):
    """torchvision's channel_shuffle, written for channels-last arrays."""
    *lead, channels = x.shape
    return x.reshape(*lead, groups, channels // groups).swapaxes(-1, -2).reshape(*lead, channels)


@pytest.mark.parametrize("shape, groups", [((2, 3, 5, 12), 2), ((2, 3, 5, 12), 3), ((2, 4, 4, 12), 4), ((3, 10), 5)])
def test_shuffle_matches_numpy(shape, groups):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    out = keras.ops.convert_to_numpy(ChannelShuffle(groups)(x))
    np.testing.assert_array_equal(out, numpy_shuffle(x, groups))


def test_shuffle_interleaves_groups_as_documented():
    x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)  # channels 0..5 = groups [0 1 2] and [3 4 5]
    out = keras.ops.convert_to_numpy(ChannelShuffle(2)(x))
    np.testing.assert_array_equal(out.ravel(), [0, 3, 1, 4, 2, 5])
    # Shuffling with C // g groups undoes a shuffle with g groups.
    back = keras.ops.convert_to_numpy(ChannelShuffle(3)(out))
    np.testing.assert_array_equal(back, x)


def test_split_matches_numpy():
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 8)).astype("float32")
    parts = ChannelSplit(2)(x)
    assert len(parts) == 2
    for part, expected in zip(parts, np.split(x, 2, axis=-1)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(part), expected)


def test_invalid_arguments_raise_clear_errors():
    for layer in (ChannelShuffle, ChannelSplit):
        for groups in (0, -2, 2.0, True, "2"):
            with pytest.raises(ValueError, match=r"Invalid groups: expected a positive integer\. Received: groups="):
                layer(groups)
        with pytest.raises(ValueError, match=r"divisible by groups=4\. Received: channels=6"):
            layer(4, name="odd")(keras.Input((5, 5, 6)))


def test_unknown_spatial_size_and_keras_round_trip(tmp_path):
    inputs = keras.Input((None, None, 8))
    left, right = ChannelSplit(2, name="split")(inputs)
    x = keras.layers.Concatenate(name="join")([right, left])
    outputs = ChannelShuffle(4, name="shuffle")(x)
    model = keras.Model(inputs, outputs)
    assert model.get_layer("shuffle").get_config()["groups"] == 4
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 8)).astype("float32")
    expected = numpy_shuffle(np.concatenate([x[..., 4:], x[..., :4]], axis=-1), 4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), expected)
    path = tmp_path / "shuffle.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(x)), expected)
