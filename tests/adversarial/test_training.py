import json
import os

import keras
import numpy as np
import pytest

from adversarial_helpers import input_gradient_by_hand, linear_model, random_linear, softmax
from kerazoo.adversarial import fgsm
from kerazoo.adversarial.training import AdversarialTrainer
from kerazoo.training import load_config, load_run_model, train


def weight_gradient_by_hand(weights, bias, x, y):
    """d mean CE / d (W, b) of a linear model."""
    error = softmax(x @ weights + bias)
    error[np.arange(len(y)), y] -= 1.0
    return x.T @ error / len(y), error.mean(0)


@pytest.mark.parametrize("mix", [1.0, 0.5])
def test_fgsm_training_step_is_gradient_descent_on_the_clean_adversarial_mix(mix):
    weights, bias = random_linear(seed=11)
    model = linear_model(weights, bias, name=f"linear_mix{int(mix * 10)}")
    x = np.random.default_rng(0).uniform(0, 255, (8, 6)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    x_adv = keras.ops.convert_to_numpy(fgsm(model, x, y, 0.1))
    np.testing.assert_allclose(x_adv, np.clip(x + 25.5 * np.sign(input_gradient_by_hand(weights, bias, x, y)), 0, 255),
                               atol=1e-4)
    trainer = AdversarialTrainer(model, method="fgsm", eps=0.1, mix=mix)
    lr = 1e-4
    trainer.compile(optimizer=keras.optimizers.SGD(lr), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.train_on_batch(x, y)
    clean_w, clean_b = weight_gradient_by_hand(weights, bias, x, y)
    adv_w, adv_b = weight_gradient_by_hand(weights, bias, x_adv, y)
    new_weights, new_bias = model.get_layer(f"{model.name}_dense").get_weights()
    np.testing.assert_allclose(new_weights, weights - lr * ((1 - mix) * clean_w + mix * adv_w), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(new_bias, bias - lr * ((1 - mix) * clean_b + mix * adv_b), rtol=1e-4, atol=1e-7)


def adversarial_config(data_dir, *extra):
    return load_config(overrides=[
        "model.name=lenet5", "jit_compile=false", f"data.data_dir={data_dir}", "data.train_split=train[:48]",
        "data.val_split=train[80:]", "data.batch_size=16", "data.augment=[]", "epochs=1", "optimizer.name=adam",
        "optimizer.lr=0.003", "optimizer.weight_decay=0", "adversarial.method=pgd", "adversarial.steps=2", *extra,
    ])


def check_plain_classifier_checkpoint(run_dir):
    model = load_run_model(run_dir, "last")
    assert type(model) is keras.Model or model.__class__.__name__ == "Functional"
    assert model.name == "lenet5" and all("adversarial" not in layer.name for layer in model.layers)
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        record = json.loads(f.readline())
    assert np.isfinite(record["loss"]) and "val_accuracy" in record
    return model


@pytest.mark.parametrize("strategy", ["default", pytest.param("mirrored", marks=pytest.mark.slow)])
def test_pgd_training_through_the_training_service(tmp_path, idx_data_dir, strategy):
    run = train(adversarial_config(idx_data_dir, f"strategy={strategy}"), str(tmp_path / strategy), verbose=0)
    check_plain_classifier_checkpoint(run)
    with open(os.path.join(run, "config.yaml")) as f:
        text = f.read()
    assert "method: pgd" in text and ("Mirrored" in text) == (strategy == "mirrored")


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise RuntimeError("simulated crash after epoch 1")


class Progress(keras.callbacks.Callback):
    """The epochs ``fit`` runs and the optimizer steps at the end (``self.model`` is the trainer)."""

    def __init__(self):
        super().__init__()
        self.epochs, self.iterations = [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)

    def on_train_end(self, logs=None):
        self.iterations = int(self.model.optimizer.iterations)


@pytest.mark.slow
def test_fgsm_training_resumes_from_backup(tmp_path, idx_data_dir):
    config = adversarial_config(idx_data_dir, "adversarial.method=fgsm", "epochs=2")
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, out, extra_callbacks=[Interrupt()], verbose=0)
    assert os.path.isdir(os.path.join(out, "backup"))
    progress = Progress()
    train(config, out, extra_callbacks=[progress], verbose=0)
    check_plain_classifier_checkpoint(out)
    assert progress.epochs == [2] and progress.iterations == 2 * 3, "resumed after epoch 1 with its optimizer state"


def test_trainer_rejects_bad_settings():
    weights, bias = random_linear()
    model = linear_model(weights, bias, name="linear_bad")
    with pytest.raises(ValueError, match="Invalid method: expected fgsm or pgd"):
        AdversarialTrainer(model, method="cw")
    with pytest.raises(ValueError, match="Invalid eps"):
        AdversarialTrainer(model, eps=25.5)
    with pytest.raises(ValueError, match="adversarial.mix' must be in \\[0, 1\\]"):
        load_config(overrides=["adversarial.mix=2"])


def test_train_flags_map_to_the_adversarial_config(monkeypatch, tmp_path):
    import kerazoo.training
    from kerazoo.cli import main

    seen = {}
    monkeypatch.setattr(kerazoo.training, "train", lambda config, out, **kw: seen.setdefault("config", config) and out)
    code = main(["train", "lenet5", "--adversarial", "pgd", "--eps", "0.05", "--adv-steps", "3", "--out",
                 str(tmp_path / "r")])
    assert code == 0
    assert (seen["config"].adversarial.method, seen["config"].adversarial.eps, seen["config"].adversarial.steps) == (
        "pgd", 0.05, 3)
