"""Transfer learning from pretrained weights (``model.weights``): phase 1 trains only the new head and leaves every
BatchNorm statistic alone, phase 2 trains the backbone; the run resumes across the phases like any other.

The pretrained weights are a keras.applications MobileNet (alpha 0.25) with random weights, saved by the test in the
layout keras publishes (nothing is downloaded).
"""

import os

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from kerazoo.applications import create_model
from kerazoo.training import load_config, load_run_model, train


@pytest.fixture(scope="module")
def pretrained_file(tmp_path_factory):
    reference = keras.applications.MobileNet(weights=None, input_shape=(32, 32, 3), alpha=0.25)
    rng = np.random.default_rng(0)
    for layer in reference.layers:
        if layer.weights:
            layer.set_weights([w + rng.normal(0, 0.05, w.shape).astype("float32") for w in layer.get_weights()])
    path = str(tmp_path_factory.mktemp("weights") / "mobilenet_2_5_32.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    return path


def weights_by_layer(model):
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


class Snapshot(keras.callbacks.Callback):
    """Records the weights after the first epoch, then stops the run as a crash would."""

    def __init__(self):
        super().__init__()
        self.after_phase1 = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.after_phase1 = weights_by_layer(self.model)
            raise RuntimeError("simulated crash after phase 1")


def test_two_phases_then_resume(tmp_path, idx_data_dir, pretrained_file, monkeypatch):
    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path / "cache"))
    config = load_config(overrides=[
        "model.name=mobilenet_025", f"model.weights={pretrained_file}", "model.input_size=32",
        f"data.data_dir={idx_data_dir}", "data.train_split=train[:48]", "data.val_split=train[48:64]",
        "data.batch_size=16", "data.augment=[]", "epochs=2", "transfer.head_epochs=1", "optimizer.lr=0.05",
        "strategy=default", "jit_compile=false",
    ])
    pretrained = weights_by_layer(create_model("mobilenet_025", weights=pretrained_file, include_top=False,
                                               pooling="avg", input_shape=(32, 32, 3)))
    snapshot = Snapshot()
    run_dir = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, run_dir, extra_callbacks=[snapshot], verbose=0)

    phase1 = snapshot.after_phase1
    assert set(phase1) == set(pretrained) | {"predictions"}
    for name, values in pretrained.items():  # kernels and BatchNorm moving statistics alike
        for before, after in zip(values, phase1[name]):
            np.testing.assert_array_equal(before, after, err_msg=name)
    assert phase1["predictions"][0].shape == (256, 10)

    train(config, run_dir, verbose=0)  # resumes in phase 2
    model = load_run_model(run_dir, "last")
    names = [layer.name for layer in model.layers]
    assert "preprocess" in names and "normalize" not in names and "to_rgb" in names
    final = weights_by_layer(model)
    changed = [n for n in pretrained if not all(np.array_equal(a, b) for a, b in zip(pretrained[n], final[n]))]
    assert "stem_conv" in changed and "stem_bn" in changed  # the backbone trains, BatchNorm statistics move
    assert not np.array_equal(final["predictions"][0], phase1["predictions"][0])
    assert model(np.zeros((1, 28, 28, 1), "float32")).shape == (1, 10)


@pytest.mark.slow
def test_a_transfer_run_exports_like_any_run(tmp_path, idx_data_dir, pretrained_file, monkeypatch):
    from kerazoo.export.exporter import export_run

    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path / "cache"))
    config = load_config(overrides=[
        "model.name=mobilenet_025", f"model.weights={pretrained_file}", "model.input_size=32",
        f"data.data_dir={idx_data_dir}", "data.train_split=train[:32]", "data.val_split=train[32:48]",
        "data.batch_size=16", "data.augment=[]", "epochs=1", "strategy=default", "jit_compile=false",
    ])
    run_dir = train(config, str(tmp_path / "run"), verbose=0)
    version = export_run(run_dir, str(tmp_path / "models"), "transfer", formats="saved_model", parity_examples=16)
    assert os.path.exists(os.path.join(version, "saved_model.pb"))  # raw pixels in, parity with Keras checked


def test_weights_and_init_from_exclude_each_other():
    with pytest.raises(ValueError, match="'model.weights' and 'model.init_from' exclude each other"):
        load_config(overrides=["model.weights=imagenet", "model.init_from=runs/x"])
    with pytest.raises(ValueError, match=r"'transfer.lr_factor' must be in \(0, 1\]; got 2.0"):
        load_config(overrides=["transfer.lr_factor=2.0"])
