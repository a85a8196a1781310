"""FractionalMaxPooling against Graham (2014): output sizes, region sequences and a NumPy reference."""

import math

import keras
import numpy as np
import pytest

from kerazoo.layers import FractionalMaxPooling
from kerazoo.layers.fractional_max_pooling import inference_boundaries

MODES = [(p, o) for p in (False, True) for o in (False, True)]  # (pseudo_random, overlapping)


def reference(x, rows, cols, overlapping):
    """Graham's definition: output (i, j) is the max over rows [a_i, a_{i+1} - 1] (or [a_i, a_{i+1}] when
    overlapping, clipped to the map) and the same for columns."""
    x = np.asarray(x)
    out = np.empty((x.shape[0], len(rows) - 1, len(cols) - 1, x.shape[3]), x.dtype)
    extra = 1 if overlapping else 0
    for i in range(len(rows) - 1):
        for j in range(len(cols) - 1):
            region = x[:, rows[i]:min(rows[i + 1] + extra, x.shape[1]), cols[j]:min(cols[j + 1] + extra, x.shape[2])]
            out[:, i, j] = region.max(axis=(1, 2))
    return out


def check_sequence(bounds, n_in, n_out):
    bounds = np.asarray(bounds)
    steps = np.diff(bounds)
    small = n_in // n_out
    assert bounds[0] == 0 and bounds[-1] == n_in and len(bounds) == n_out + 1
    assert set(steps.tolist()) <= {small, small + 1}
    assert np.sum(steps == small + 1) == n_in - small * n_out


@pytest.mark.parametrize("size, ratio", [(32, 1.414), (25, 1.414), (17, 1.5), (32, 2.0), (9, 1.1), (30, 2.7)])
def test_output_size_is_floor_of_input_over_ratio(size, ratio):
    layer = FractionalMaxPooling(ratio)
    x = np.zeros((1, size, size + 3, 2), "float32")
    expected = (1, math.floor(size / ratio), math.floor((size + 3) / ratio), 2)
    assert tuple(layer(x).shape) == expected
    assert tuple(layer(x, training=True).shape) == expected
    assert layer.compute_output_shape(x.shape) == expected


def test_separate_ratios_for_rows_and_columns():
    layer = FractionalMaxPooling((1.5, 1.25))
    assert tuple(layer(np.zeros((2, 30, 30, 1), "float32")).shape) == (2, 20, 24, 1)


@pytest.mark.parametrize("pseudo_random, overlapping", MODES)
def test_training_regions_follow_graham_and_outputs_are_region_maxima(pseudo_random, overlapping):
    layer = FractionalMaxPooling(1.414, pseudo_random=pseudo_random, overlapping=overlapping, seed=0)
    x = np.random.default_rng(0).permutation(2 * 25 * 23 * 3).reshape(2, 25, 23, 3).astype("float32")
    layer.build(x.shape)
    draws = set()
    for _ in range(5):
        rows, cols = (keras.ops.convert_to_numpy(b) for b in layer.sample_boundaries(training=True))
        check_sequence(rows, 25, 17)
        check_sequence(cols, 23, 16)
        draws.add(tuple(rows))
        out = keras.ops.convert_to_numpy(layer.pool(x, rows, cols))
        np.testing.assert_array_equal(out, reference(x, rows, cols, overlapping))
    assert len(draws) > 1, "training draws new regions on every call"


def test_random_and_pseudo_random_sequences_differ_in_kind():
    """Pseudo-random boundaries a_i = ceil(alpha (i + u)) - ceil(alpha u) stay within one pixel of i * alpha (the long
    steps are spread evenly); random ones are arbitrary permutations of the steps and wander further."""
    n_in, n_out = 64, 45
    pseudo = FractionalMaxPooling(1.414, pseudo_random=True, seed=1)
    random = FractionalMaxPooling(1.414, pseudo_random=False, seed=1)
    pseudo.build((1, n_in, n_in, 1))
    random.build((1, n_in, n_in, 1))
    ideal = np.arange(n_out + 1) * n_in / n_out
    for _ in range(5):
        p = keras.ops.convert_to_numpy(pseudo.sample_boundaries(True)[0])
        assert np.max(np.abs(p - ideal)) < 1
    worst = max(
        np.max(np.abs(keras.ops.convert_to_numpy(random.sample_boundaries(True)[0]) - ideal)) for _ in range(5)
    )
    assert worst > 1


@pytest.mark.parametrize("pseudo_random, overlapping", MODES)
def test_inference_is_deterministic_and_matches_reference(pseudo_random, overlapping):
    layer = FractionalMaxPooling(1.414, pseudo_random=pseudo_random, overlapping=overlapping)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 4)).astype("float32")
    rows = inference_boundaries(32, 22)
    check_sequence(rows, 32, 22)
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(out, reference(x, rows, rows, overlapping))
    np.testing.assert_array_equal(out, keras.ops.convert_to_numpy(layer(x, training=False)))


@pytest.mark.parametrize("training", [False, True])
def test_integer_ratio_is_ordinary_max_pooling(training):
    x = np.random.default_rng(2).normal(size=(2, 16, 16, 3)).astype("float32")
    out = FractionalMaxPooling(2.0, pseudo_random=True)(x, training=training)
    np.testing.assert_array_equal(out, keras.layers.MaxPooling2D(2)(x))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
def test_gradients_flow_to_the_region_maxima_only():
    import tensorflow as tf  # the layer itself uses keras.ops only

    x = tf.constant(np.random.default_rng(3).permutation(64).reshape(1, 8, 8, 1).astype("float32"))
    layer = FractionalMaxPooling(1.5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        total = tf.reduce_sum(y)
    grad = tape.gradient(total, x).numpy()
    assert grad.sum() == np.prod(y.shape)  # each of the 5x5 outputs routes its gradient to one input
    assert set(np.unique(grad).tolist()) <= {0.0, 1.0}


def test_serialization_round_trip(tmp_path):
    model = keras.Sequential([keras.Input((20, 20, 2)), FractionalMaxPooling((1.5, 1.25), True, True, seed=3,
                                                                            name="fmp")])
    model.save(tmp_path / "fmp.keras")
    reloaded = keras.saving.load_model(tmp_path / "fmp.keras", safe_mode=True)
    config = reloaded.get_layer("fmp").get_config()
    assert (config["pooling_ratio"], config["pseudo_random"], config["overlapping"]) == ([1.5, 1.25], True, True)
    x = np.random.default_rng(4).normal(size=(1, 20, 20, 2)).astype("float32")
    np.testing.assert_array_equal(reloaded(x), model(x))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pooling_ratio": 0.5}, r"Invalid pooling_ratio: expected a number >= 1 .* Received: pooling_ratio=0.5"),
        ({"pooling_ratio": (1.5, 1.5, 1.5)}, r"Invalid pooling_ratio"),
        ({"pseudo_random": "yes"}, r"Invalid pseudo_random: expected True or False. Received: pseudo_random='yes'"),
        ({"overlapping": 1}, r"Invalid overlapping: expected True or False. Received: overlapping=1"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FractionalMaxPooling(**kwargs)


def test_unknown_or_too_small_spatial_size_is_an_error():
    with pytest.raises(ValueError, match=r"needs known height and width"):
        FractionalMaxPooling()(keras.Input((None, None, 3)))
    with pytest.raises(ValueError, match=r"leaves no output"):
        FractionalMaxPooling(3.0)(np.zeros((1, 2, 2, 1), "float32"))
