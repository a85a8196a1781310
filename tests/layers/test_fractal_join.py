"""FractalJoin and FractalPathSampler: mean at inference, local and global drop-path in training."""

import itertools

import keras
import numpy as np
import pytest

from kerazoo.layers import FractalJoin, FractalPathSampler

VALUES = (1.0, 2.0, 4.0)  # every non-empty subset of these has a distinct mean


def columns(batch=64, values=VALUES):
    return [np.full((batch, 3, 3, 2), v, "float32") for v in values]


def subset_means(values=VALUES):
    return {
        round(float(np.mean(s)), 4): s for r in range(1, len(values) + 1) for s in itertools.combinations(values, r)
    }


def per_sample(out):
    out = keras.ops.convert_to_numpy(out)
    assert np.all(out == out[:, :1, :1, :1]), "a join must weigh whole maps, never single positions"
    return out[:, 0, 0, 0]


def test_inference_is_the_element_wise_mean():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, 4, 4, 3)).astype("float32") for _ in range(3)]
    join = FractalJoin(0.5, seed=0)
    np.testing.assert_allclose(join(xs), np.mean(xs, axis=0), rtol=1e-6)
    np.testing.assert_allclose(join(xs, training=False), np.mean(xs, axis=0), rtol=1e-6)
    # With a sampler's inference output (all -1) it is the mean too.
    path = FractalPathSampler(3, 1.0)(xs[0], training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(path), [-1, -1])
    np.testing.assert_allclose(join(xs, path, training=False), np.mean(xs, axis=0), rtol=1e-6)
    # One input passes through.
    np.testing.assert_array_equal(FractalJoin()(xs[:1], training=True), xs[0])


def test_local_drop_path_averages_a_non_empty_random_subset():
    join = FractalJoin(0.4, seed=1)
    means = subset_means()
    seen, dropped = set(), 0
    for _ in range(10):
        for value in per_sample(join(columns(), training=True)):
            subset = means[round(float(value), 4)]  # KeyError if not the mean of a non-empty subset
            seen.add(subset)
            dropped += len(VALUES) - len(subset)
    assert len(seen) == 7  # every non-empty subset occurs
    # Each input is dropped with probability 0.4, except that an all-dropped draw keeps one input:
    # expected drops per join = 3 * 0.4 - 0.4^3 = 1.136.
    assert abs(dropped / 640 - 1.136) < 0.1


def test_local_drop_path_keeps_at_least_one_input():
    out = per_sample(FractalJoin(1.0, seed=2)(columns(), training=True))
    assert set(out.tolist()) == set(VALUES)  # exactly one survivor each time, chosen at random


def test_without_drop_rate_training_is_the_mean():
    out = per_sample(FractalJoin(0.0)(columns(), training=True))
    np.testing.assert_allclose(out, np.mean(VALUES))


def test_global_drop_path_passes_the_sampled_column_through():
    join = FractalJoin(0.5, column_ids=(1, 2, 3), seed=3)
    # Samples 0-2 use columns 1, 2, 3; sample 3 uses column 0, which this join does not merge (mean); the rest
    # are local.
    path = np.array([1, 2, 3, 0] + [-1] * 60, dtype="int32")
    out = per_sample(join(columns(), path, training=True))
    np.testing.assert_allclose(out[:4], [1.0, 2.0, 4.0, np.mean(VALUES)])
    assert all(round(float(v), 4) in subset_means() for v in out[4:])
    assert len(set(out[4:].tolist())) > 1


def test_sampler_draws_global_columns_and_local_samples():
    x = np.zeros((400, 2), "float32")
    path = keras.ops.convert_to_numpy(FractalPathSampler(4, 0.5, seed=4)(x, training=True))
    assert path.dtype == np.int32 and path.shape == (400,)
    assert set(path.tolist()) == {-1, 0, 1, 2, 3}
    assert abs(np.mean(path == -1) - 0.5) < 0.1
    assert set(keras.ops.convert_to_numpy(FractalPathSampler(4, 1.0)(x, training=True)).tolist()) == {0, 1, 2, 3}
    assert set(keras.ops.convert_to_numpy(FractalPathSampler(4, 0.0)(x, training=True)).tolist()) == {-1}


def test_in_a_model_and_serialization(tmp_path):
    inputs = [keras.Input((3, 3, 2)) for _ in range(3)]
    path = FractalPathSampler(3, 0.5, name="sampler")(inputs[0])
    out = FractalJoin(0.15, column_ids=[0, 1, 2], name="join")(inputs, path)
    model = keras.Model(inputs, out)
    assert model.output_shape == (None, 3, 3, 2)
    model.save(tmp_path / "join.keras")
    reloaded = keras.saving.load_model(tmp_path / "join.keras", safe_mode=True)
    assert reloaded.get_layer("join").get_config()["column_ids"] == [0, 1, 2]
    assert reloaded.get_layer("sampler").get_config()["global_ratio"] == 0.5
    xs = columns(batch=2)
    np.testing.assert_allclose(reloaded(xs), model(xs))
    np.testing.assert_allclose(per_sample(reloaded(xs)), np.mean(VALUES))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: FractalJoin(rate=1.5), r"Invalid rate: expected a probability in \[0, 1\]. Received: rate=1.5"),
        (lambda: FractalJoin(column_ids=[0, 0]), r"Invalid column_ids: expected distinct"),
        (lambda: FractalJoin(column_ids=[-1]), r"Invalid column_ids: .* Received: column_ids=\(-1,\)"),
        (lambda: FractalPathSampler(0), r"Invalid columns: expected an integer >= 1. Received: columns=0"),
        (lambda: FractalPathSampler(3, 2.0), r"Invalid global_ratio: .* Received: global_ratio=2.0"),
        (lambda: FractalJoin(column_ids=[0, 1])(columns(2)), r"Invalid column_ids: expected one index per input"),
    ],
)
def test_invalid_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
