"""A run directory written before kerazoo/runs.py (tests/fixtures/run_v1, see its README) is still read by every verb:
evaluate reproduces its summary, export publishes it, ``runs list`` shows it complete, and training again into it
(resume) says it is complete while a new run starts from it (``model.init_from``)."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import make_idx_dataset

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "run_v1")


@pytest.fixture
def run_v1(tmp_path, monkeypatch):
    """A copy of the fixture in a working folder holding the data its config names (``data/fashion_mnist``)."""
    monkeypatch.chdir(tmp_path)
    make_idx_dataset(str(tmp_path / "data" / "fashion_mnist"))
    shutil.copytree(FIXTURE, tmp_path / "run_v1")
    return str(tmp_path / "run_v1")


def summary_of(run_dir):
    with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


def test_evaluate_reproduces_the_summary(run_v1):
    from kerazoo.export.evaluate import evaluate_artifact
    from kerazoo.training.run import evaluate_model, load_run_config, load_run_model

    summary = summary_of(run_v1)
    figures = evaluate_model(load_run_model(run_v1), load_run_config(run_v1))
    assert figures["examples"] == summary["examples"] == 48
    assert figures["accuracy"] == pytest.approx(summary["accuracy"], abs=1e-6)
    assert figures["loss"] == pytest.approx(summary["loss"], rel=1e-5)
    assert evaluate_artifact(run_v1)["accuracy"] == pytest.approx(summary["accuracy"], abs=1e-6)


def test_export_publishes_the_best_checkpoint(run_v1, tmp_path):
    import tensorflow as tf

    from kerazoo.export.exporter import export_run
    from kerazoo.training.run import load_run_model

    version = export_run(run_v1, str(tmp_path / "models"), "lenet_v1", formats=("saved_model",), parity_examples=8)
    assert version.endswith(os.path.join("lenet_v1", "1"))
    images = np.random.default_rng(0).integers(0, 255, size=(4, 28, 28, 1)).astype(np.float32)
    served = tf.saved_model.load(version).signatures["serving_default"](images=tf.constant(images))
    logits = load_run_model(run_v1).predict(images, verbose=0)  # a run's model returns logits; serving, probabilities
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)


def test_runs_list_and_resume_read_it(run_v1, tmp_path):
    from kerazoo.training import load_config, train
    from kerazoo.training.run import read_run_config
    from kerazoo.training.runs import run_row

    row = run_row(run_v1)
    assert (row["status"], row["epochs_done"], row["epochs_total"]) == ("complete", 2, 2)
    assert row["test_accuracy"] == summary_of(run_v1)["accuracy"]

    saved = read_run_config(run_v1)
    overrides = [f"{k}={json.dumps(v)}" for k, v in (("model.name", "lenet5"), ("epochs", 2))]
    config = load_config(overrides=[
        *overrides, "data.data_dir=data/fashion_mnist", "data.train_split=train[:80]", "data.val_split=train[80:]",
        "data.batch_size=16", "data.augment=[]", "optimizer.name=sgd", "optimizer.momentum=0", "optimizer.lr=0.01",
        "optimizer.weight_decay=0", "strategy=default", "jit_compile=false", "seed=0",
    ])
    assert saved["data"]["data_dir"] == config.data.data_dir
    with pytest.raises(FileExistsError, match="already complete"):
        train(config, run_v1, verbose=0)

    import dataclasses

    warm = dataclasses.replace(config, epochs=1, model=dataclasses.replace(config.model, init_from=run_v1))
    out = train(warm, str(tmp_path / "warm"), verbose=0)
    assert summary_of(out)["epochs"] == 1
