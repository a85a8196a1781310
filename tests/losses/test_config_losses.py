"""Losses by name in training configs: ``model.loss``, ``model.loss_kwargs``, ``optimizer.label_smoothing``."""

import json

import pytest

from kerazoo import losses
from kerazoo.training import load_config, load_run_model, train
from kerazoo.training.tasks import training_loss


def test_training_loss_reads_the_config():
    config = load_config(overrides=["optimizer.label_smoothing=0.1"])
    loss = training_loss(config)
    assert isinstance(loss, losses.SoftmaxCrossEntropy) and loss.options == {"label_smoothing": 0.1}
    config = load_config(overrides=["model.loss=squared_hinge", "model.loss_kwargs={margin: 2}"])
    assert training_loss(config).options == {"margin": 2.0}
    with pytest.raises(ValueError, match="Allowed: margin"):
        training_loss(load_config(overrides=["model.loss=multiclass_hinge",
                                             "optimizer.label_smoothing=0.1"]))
    with pytest.raises(ValueError, match="Did you mean: multiclass_hinge"):
        training_loss(load_config(overrides=["model.loss=multiclass_hinje"]))


@pytest.mark.slow
def test_train_with_hinge_loss_learns_and_reloads(tmp_path, idx_data_dir):
    config = load_config(overrides=[
        "model.name=lenet5", f"data.data_dir={idx_data_dir}", "data.train_split=train[:64]", "data.val_split=''",
        "data.batch_size=16", "data.augment=[]", "epochs=3", "optimizer.name=adam", "optimizer.lr=0.003",
        "optimizer.weight_decay=0", "model.loss=multiclass_hinge", "strategy=default", "jit_compile=false",
    ])
    run = train(config, str(tmp_path / "hinge"), verbose=0)
    with open(f"{run}/metrics.jsonl") as f:
        epoch_losses = [json.loads(line)["loss"] for line in f]
    assert epoch_losses[-1] < epoch_losses[0]
    model = load_run_model(run, "last")
    assert model.loss.options == {"margin": 1.0}
