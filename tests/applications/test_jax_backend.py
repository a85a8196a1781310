"""The builders are backend-agnostic: every classifier rebuilt under KERAS_BACKEND=jax, given the TensorFlow build's
weights, has the same parameter count and the same outputs, and a jitted JAX training step runs.

The JAX side runs in one subprocess (the backend is fixed when Keras is imported). The default tier checks one model
per kind of block, the slow tier every classifier.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, get_entry, list_models

from zoo_checks import small_shape

pytest.importorskip("jax")

CLASSIFIERS = list_models(task="classification")
LIGHT = [n for n in CLASSIFIERS if "heavy" not in get_entry(n).tags]
# Slow tier: every classifier. Default tier: one model per kind of block that the light families use (attention and
# layer norm, channel split and shuffle with depthwise convolutions, squeeze-excitation on residual blocks, fire
# modules with concatenation), as building a model on JAX compiles each new op and shape (~5-15 s a model here).
KINDS_OF_BLOCK = ["vit_micro_p4", "shufflenetv2_x1_0", "seresnet20", "squeezenet1_0"]
# One jitted training step on JAX (an XLA compilation each: tens of seconds on 2 cores) for a model of each kind of
# block, in the slow tier; inference parity covers every model.
TRAIN_ON_JAX = {"lenet5", "resnet20", "densenetbc100", "mobilenetv2", "shufflenetv2_x0_5", "fractalnet20", "googlenet",
                "squeezenet1_1", "vit_micro_p4"}
CHECK = os.path.join(os.path.dirname(__file__), "jax_backend_check.py")


def _compare_on_jax(names, folder, train_on_jax):
    rng = np.random.default_rng(0)
    tf_outputs, tf_params = {}, {}
    for name in names:
        kwargs = {"input_shape": small_shape(name), "classes": 10}
        model = create_model(name, **kwargs)
        h, _, c = kwargs["input_shape"]
        inputs_path = os.path.join(folder, f"inputs_{h}_{c}.npy")
        if not os.path.exists(inputs_path):
            np.save(inputs_path, rng.normal(size=(2, h, h, c)).astype("float32"))
        tf_outputs[name] = keras.ops.convert_to_numpy(model(np.load(inputs_path), training=False))
        tf_params[name] = model.count_params()
        model.save_weights(os.path.join(folder, f"{name}.weights.h5"))
        with open(os.path.join(folder, f"{name}.json"), "w") as f:
            json.dump(kwargs, f)
    with open(os.path.join(folder, "train.json"), "w") as f:
        json.dump(sorted(train_on_jax), f)

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, CHECK, folder, *names], env=env, capture_output=True, text=True,
                            timeout=2100)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(folder, "report.json")) as f:
        report = json.load(f)
    for name in names:
        assert report[name]["params"] == tf_params[name], name
        jax_out = np.load(os.path.join(folder, f"{name}.jax.npy"))
        np.testing.assert_allclose(jax_out, tf_outputs[name], atol=1e-4, rtol=1e-3, err_msg=name)
        if name in train_on_jax:
            assert np.isfinite(report[name]["loss"]) and report[name]["weights_moved"], (name, report[name])


def test_one_classifier_per_kind_of_block_matches_on_jax(tmp_path):
    assert set(KINDS_OF_BLOCK) <= set(LIGHT)
    _compare_on_jax(KINDS_OF_BLOCK, str(tmp_path), set())


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~60 models, each compiled op by op on JAX: longer than the suite's 600 s per test
def test_every_classifier_matches_and_kinds_of_block_train_on_jax(tmp_path):
    _compare_on_jax(CLASSIFIERS, str(tmp_path), TRAIN_ON_JAX)
