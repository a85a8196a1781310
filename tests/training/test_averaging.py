"""EMA/Polyak weight averaging, snapshot ensembles and ensembles of runs."""

import json
import os

import keras
import numpy as np
import pytest

from kerazoo.training.averaging import WeightAveraging, ensemble_predict, snapshot_paths


class Recorder(keras.callbacks.Callback):
    """The kernel after every training step (placed before WeightAveraging, so it sees the training weights)."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_train_batch_end(self, batch, logs=None):
        self.kernels.append(np.array(self.model.get_layer("fc").kernel))


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="fc")], name="tiny")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")


@pytest.mark.parametrize("kind", ["ema", "polyak"])
def test_average_matches_hand_computation(data, kind):
    x, y = data
    model = tiny_model()
    initial = np.array(model.get_layer("fc").kernel)
    recorder, averaging = Recorder(), WeightAveraging(kind, decay=0.9)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[recorder, averaging], validation_data=(x, y))
    expected = initial.copy()
    for t, kernel in enumerate(recorder.kernels, start=1):
        rate = 1 - min(0.9, (1 + t) / (10 + t)) if kind == "ema" else 1 / (t + 1)
        expected += rate * (kernel - expected)
    if kind == "polyak":
        np.testing.assert_allclose(expected, np.mean([initial, *recorder.kernels], axis=0), rtol=1e-5)
    final = np.array(model.get_layer("fc").kernel)
    np.testing.assert_allclose(final, expected, rtol=1e-5)  # the final model holds the average
    assert not np.allclose(final, recorder.kernels[-1])


def test_training_continues_from_the_raw_weights_after_validation(data):
    x, y = data
    model = tiny_model()
    recorder = Recorder()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[recorder], validation_data=(x, y), shuffle=False)
    plain = recorder.kernels
    model = tiny_model()
    recorder = Recorder()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[recorder, WeightAveraging("ema", 0.5)],
              validation_data=(x, y), shuffle=False)
    np.testing.assert_allclose(recorder.kernels, plain, rtol=1e-6)  # averaging never changes the trajectory


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay"):
        WeightAveraging("ema", decay=1.0)
    with pytest.raises(ValueError, match="ema or polyak"):
        WeightAveraging("swa")
    with pytest.raises(ValueError, match="at least one"):
        ensemble_predict([], np.zeros((1, 3)))


def test_ensemble_predict_averages_probabilities(tmp_path, data):
    x, _ = data
    models = [tiny_model(seed) for seed in range(2)]
    models[0].save(tmp_path / "a.keras")
    probs = ensemble_predict([str(tmp_path / "a.keras"), models[1]], x)
    expected = np.mean([keras.ops.convert_to_numpy(keras.ops.softmax(m.predict(x, verbose=0))) for m in models], 0)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_train_with_ema_and_sgdr_snapshots(tmp_path, idx_data_dir):
    from kerazoo import datasets
    from kerazoo.training import load_config, train

    config = load_config(overrides=[
        "model.name=lenet5", f"data.data_dir={idx_data_dir}", "data.train_split=train[:64]",
        "data.val_split=train[64:]", "data.batch_size=16", "data.augment=[]", "epochs=4", "optimizer.name=adam",
        "optimizer.lr=0.003", "optimizer.weight_decay=0", "schedule.name=sgdr", "schedule.restart_epochs=2",
        "schedule.snapshots=true", "schedule.averaging=ema", "schedule.ema_decay=0.9", "strategy=default",
        "jit_compile=false",
    ])
    run = train(config, str(tmp_path / "run"), verbose=0)
    snapshots = snapshot_paths(run)
    assert [os.path.basename(p) for p in snapshots] == ["snapshot_2.keras", "snapshot_4.keras"]
    images, labels = datasets.load_arrays("fashion_mnist", "test", data_dir=idx_data_dir)
    probs = ensemble_predict(snapshots, images)
    assert probs.shape == (len(images), 10)
    with open(os.path.join(run, "summary.json")) as f:
        assert json.load(f)["accuracy"] > 0.1


def test_backup_after_the_average_keeps_the_training_weights(tmp_path, data):
    """train's epoch-end order (metrics, averaging, checkpoints, backup): the backup, listed after WeightAveraging swaps
    the average in, still saves the training weights (training_weights()) and the average beside them."""
    from kerazoo.runs import RunDir
    from kerazoo.training.callbacks import AtomicBackupAndRestore

    x, y = data
    model = tiny_model()
    averaging = WeightAveraging("ema", decay=0.5)
    seen = {}

    class AfterBackup(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["model"] = np.array(model.get_layer("fc").kernel)  # the average: swapped back in after the backup
            seen["training"] = np.array(averaging._swapped[0])

    backup = AtomicBackupAndRestore(str(tmp_path / "backup"), states={"averaging": averaging})
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[averaging, backup, AfterBackup()])
    restored = tiny_model(seed=1)
    state = RunDir(tmp_path).read_backup(restored)
    np.testing.assert_array_equal(restored.get_layer("fc").kernel.numpy(), seen["training"])
    np.testing.assert_array_equal(state["arrays"]["averaging.shadow_0"], seen["model"])
    assert not np.array_equal(seen["training"], seen["model"])
