import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import kerazoo
from kerazoo import saving

REPO = pathlib.Path(kerazoo.__file__).parent.parent


def run_fresh(code):
    """Run ``code`` in a new Python process (nothing of kerazoo or Keras imported yet) and return its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_module_that_registers_keras_objects_is_listed():
    defining = set()
    for path in (REPO / "kerazoo").rglob("*.py"):
        if "register_keras_serializable(" in path.read_text():
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            defining.add(module)
    covered = {m for m in defining if any(m == listed or m.startswith(listed + ".") for listed in
                                          saving.SERIALIZABLE_MODULES)}
    assert defining - covered == set(), "add these to kerazoo.saving.SERIALIZABLE_MODULES"


def test_import_kerazoo_does_not_load_keras_or_tensorflow():
    assert run_fresh("import sys, kerazoo; print('keras' in sys.modules, 'tensorflow' in sys.modules)").split() == [
        "False", "False"]


def test_load_model_opens_a_custom_layer_model_and_a_kerazoo_loss_after_import_kerazoo_alone(tmp_path):
    from kerazoo import losses
    from kerazoo.applications import create_model

    model = create_model("resnet20", input_shape=(16, 16, 3), classes=10, classifier_activation=None)
    assert any(type(layer).__module__.startswith("kerazoo.layers") for layer in model.layers)
    model.compile(optimizer="sgd", loss=losses.SoftmaxCrossEntropy(label_smoothing=0.1))
    path = tmp_path / "resnet20.keras"
    model.save(path)
    np.save(tmp_path / "out.npy", model(np.ones((1, 16, 16, 3), "float32")).numpy())
    printed = run_fresh(
        "import kerazoo, keras, numpy as np\n"
        f"model = keras.models.load_model({str(path)!r})\n"
        "print(type(model.loss).__name__, model.loss.get_config()['label_smoothing'])\n"
        f"np.testing.assert_allclose(model(np.ones((1, 16, 16, 3), 'float32')).numpy(), "
        f"np.load({str(tmp_path / 'out.npy')!r}), rtol=1e-5, atol=1e-5)\n"
    )
    assert printed.split() == ["SoftmaxCrossEntropy", "0.1"]


@pytest.mark.slow
def test_keras_imported_before_kerazoo_also_registers():
    printed = run_fresh("import keras, kerazoo\nprint('kerazoo>ZeroPadShortcut' in keras.saving.get_custom_objects())")
    assert printed.strip() == "True"
