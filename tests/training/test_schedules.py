"""EpochSchedule: step, cosine, SGDR warm restarts and linear warm-up against hand computations."""

import math

import keras
import numpy as np
import pytest

from kerazoo.training.schedules import EpochSchedule, restart_epochs_of


def rates(schedule, epochs):
    return np.array([float(schedule(int(e * schedule.steps_per_epoch))) for e in epochs])


def test_sgdr_restarts_at_each_cycle():
    s = EpochSchedule(0.1, steps_per_epoch=10, epochs=12, kind="sgdr", restart_epochs=4)
    epochs = np.array([0, 1, 2, 3.9, 4, 6, 8, 11])
    expected = [0.05 * (1 + math.cos(math.pi * (e % 4) / 4)) for e in epochs]
    np.testing.assert_allclose(rates(s, epochs), expected, rtol=1e-5, atol=1e-7)
    assert restart_epochs_of(s) == [4, 8, 12]


def test_sgdr_cycles_grow_by_restart_mult_after_warmup():
    s = EpochSchedule(1.0, steps_per_epoch=4, epochs=8, kind="sgdr", warmup_epochs=1, restart_epochs=1,
                      restart_mult=2)
    # warm-up [0, 1), then cycles of 1, 2 and 4 epochs start at epochs 1, 2 and 4.
    np.testing.assert_allclose(rates(s, [0.5, 1, 1.5, 2, 3, 4, 6]), [0.5, 1, 0.5, 1, 0.5, 1, 0.5], atol=1e-5)
    assert restart_epochs_of(s) == [2, 4, 8]


def test_step_cosine_and_warmup():
    step = EpochSchedule(0.1, 10, 30, kind="step", step_epochs=[10, 20], step_factor=0.1)
    np.testing.assert_allclose(rates(step, [0, 9.9, 10, 25]), [0.1, 0.1, 0.01, 0.001], rtol=1e-5)
    cosine = EpochSchedule(0.1, 10, 10, kind="cosine", warmup_epochs=2)
    np.testing.assert_allclose(rates(cosine, [1, 2, 6, 10]), [0.05, 0.1, 0.05, 0.0], atol=1e-6)
    assert restart_epochs_of(cosine) == []


def test_schedule_serializes_and_rejects_bad_values():
    s = EpochSchedule(0.1, 10, 12, kind="sgdr", restart_epochs=3, restart_mult=1.5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    np.testing.assert_allclose(rates(restored, [0, 2, 5, 11]), rates(s, [0, 2, 5, 11]))
    with pytest.raises(ValueError, match="sgdr"):
        EpochSchedule(0.1, 10, 10, kind="cyclic")
    with pytest.raises(ValueError, match="restart_mult"):
        EpochSchedule(0.1, 10, 10, kind="sgdr", restart_mult=0.5)
