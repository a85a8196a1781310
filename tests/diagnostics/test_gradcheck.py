"""The gradient checker passes correct gradients and catches a deliberately wrong custom gradient."""

import keras
import numpy as np
import pytest
from keras import ops

from kerazoo import losses
from kerazoo.diagnostics import check_gradients
from kerazoo.layers import LocalResponseNormalization


class Cube(keras.layers.Layer):
    """y = scale * x³ with a hand-written gradient; ``wrong=True`` returns 2x² instead of 3x² (the bug to catch)."""

    def __init__(self, wrong=False, **kwargs):
        super().__init__(**kwargs)
        self.wrong = wrong

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x):
        factor = 2.0 if self.wrong else 3.0

        @ops.custom_gradient
        def cube(x):
            def grad(*args, upstream=None):
                upstream = args[0] if args else upstream
                return upstream * factor * ops.square(x)

            return x * x * x, grad

        return self.scale * cube(x)

    def get_config(self):
        return {**super().get_config(), "wrong": self.wrong}


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(3, 4))


def test_wrong_custom_gradient_is_caught(x):
    report = check_gradients(Cube(wrong=True, name="bad_cube"), x)
    assert not report.passed
    by_name = {t.name: t for t in report.tensors}
    assert not by_name["input 0"].passed and by_name["input 0"].max_relative_error > 0.1
    assert by_name["input 0"].checked == x.size
    assert by_name[next(n for n in by_name if "scale" in n)].passed  # the weight's gradient does not use the bug
    assert "FAIL" in report.table()


@pytest.mark.parametrize("layer", [
    lambda: Cube(name="good_cube"),
    lambda: keras.layers.Dense(3, activation="tanh", name="fc"),
    lambda: LocalResponseNormalization(depth_radius=1, alpha=0.1, name="lrn"),
])
def test_correct_gradients_pass(layer, x):
    report = check_gradients(layer(), x)
    assert report.passed, report.table()


def test_conv_layer_weights_are_checked():
    images = np.random.default_rng(1).normal(size=(2, 5, 5, 2))
    report = check_gradients(keras.layers.Conv2D(3, 3, name="conv"), images, max_elements=30)
    assert report.passed, report.table()
    assert len(report.tensors) == 3 and all(t.checked <= 30 for t in report.tensors)


@pytest.mark.parametrize("loss", [losses.MulticlassHinge(margin=1.0), losses.softmax_cross_entropy,
                                  losses.SquaredHinge(), losses.OneVsAllHinge()])
def test_losses_pass(loss):
    rng = np.random.default_rng(2)
    scores, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    report = check_gradients(loss, scores, y_true=labels)
    assert report.passed, report.table()


def test_bad_arguments():
    with pytest.raises(ValueError, match="y_true"):
        check_gradients(losses.softmax_cross_entropy, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="eps"):
        check_gradients(keras.layers.Dense(2, name="d"), np.zeros((2, 3)), eps=0)
