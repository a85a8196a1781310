"""Trainers register with the training service (kerazoo.plugins.TRAINERS names their modules), so the service never
imports the adversarial or optimize packages and ``Task.trainer`` still finds them."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from kerazoo import datasets, plugins
from kerazoo.training import tasks


def test_get_trainer_imports_the_module_the_table_names():
    from kerazoo.adversarial.training import adversarial_trainer
    from kerazoo.optimize.distill import distill_trainer

    assert set(plugins.TRAINERS) == {"adversarial", "distill"}
    assert tasks.get_trainer("adversarial") is adversarial_trainer
    assert tasks.get_trainer("distill") is distill_trainer


def test_unknown_trainer_is_a_one_line_error_with_close_names():
    with pytest.raises(ValueError, match=r"No trainer 'distil' is registered .*Did you mean: distill\?"):
        tasks.get_trainer("distil")


def test_task_trainer_wraps_the_model_with_the_registered_trainer(monkeypatch):
    calls = []
    monkeypatch.setitem(tasks._TRAINERS, "adversarial", lambda model, section: calls.append((model, section)) or "A")
    monkeypatch.setitem(tasks._TRAINERS, "distill", lambda model, section: calls.append((model, section)) or "D")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain = SimpleNamespace(model=SimpleNamespace(kwargs={}), adversarial=SimpleNamespace(method="none"),
                            distill=SimpleNamespace(teacher=None))
    assert tasks.Task().trainer(model, plain) is model and calls == []
    attack = SimpleNamespace(method="fgsm")
    assert tasks.Task().trainer(model, SimpleNamespace(**{**vars(plain), "adversarial": attack})) == "A"
    teacher = SimpleNamespace(teacher="runs/big")
    assert tasks.Task().trainer(model, SimpleNamespace(**{**vars(plain), "distill": teacher})) == "D"
    assert calls == [(model, attack), (model, teacher)]


def test_split_arrays_gives_the_split_in_order():
    images, labels = datasets.split_arrays("digits", "test", limit=20, batch_size=8)
    expected_images, expected_labels = datasets.load_arrays("digits", "test")
    assert images.shape == (20, *expected_images.shape[1:]) and images.dtype == np.float32
    np.testing.assert_array_equal(images, expected_images[:20].astype(np.float32))
    np.testing.assert_array_equal(labels, expected_labels[:20])
