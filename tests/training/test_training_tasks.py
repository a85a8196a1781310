import json

import numpy as np
import pytest

from kerazoo.cli import main
from kerazoo.training import load_run_model


def test_train_lenet5_on_digits_with_the_defaults(tmp_path, capsys):
    """The 8x8 digits are smaller than LeNet-5's smallest input (16): the model resizes them, and the default
    validation split is the last 10% of digits' training images (not the Fashion-MNIST-sized train[55000:])."""
    out = tmp_path / "digits"
    assert main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out)]) == 0
    with open(out / "metrics.jsonl") as f:
        row = json.loads(f.readline())
    assert np.isfinite(row["val_loss"]) and 0 <= row["val_accuracy"] <= 1
    model = load_run_model(str(out))
    assert model.input_shape == (None, 8, 8, 1) and model.get_layer("resize").output.shape[1:3] == (16, 16)
    assert model.output_shape == (None, 10)


def test_auxiliary_trainer_adds_the_weighted_auxiliary_losses_in_training_only():
    import keras

    from kerazoo.training.tasks import AuxiliaryClassifierTrainer

    inputs = keras.Input((4,), name="images")
    heads = [keras.layers.Dense(3, name=f"head{i}")(inputs) for i in range(3)]
    network = keras.Model(inputs, heads)
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trainer = AuxiliaryClassifierTrainer(network, xent, (0.3, 0.3))
    trainer.compile(optimizer=keras.optimizers.SGD(0.0), loss=xent, metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.arange(8) % 3
    main, aux1, aux2 = (float(xent(y, out)) for out in network(x))
    assert trainer.train_on_batch(x, y)[0] == pytest.approx(main + 0.3 * aux1 + 0.3 * aux2, rel=1e-5)
    assert trainer.test_on_batch(x, y)[0] == pytest.approx(main, rel=1e-5)
    assert trainer.predict(x, verbose=0).shape == (8, 3)


@pytest.mark.slow  # about 80 s on 2 cores: GoogLeNet's 6M parameters at 65x65
def test_googlenet_trains_with_its_auxiliary_classifiers_and_keeps_none(tmp_path, idx_data_dir):
    from kerazoo.training import load_config, train

    config = load_config(overrides=[
        "model.name=googlenet", "model.kwargs={aux_classifiers: true}", "model.input_size=65",
        f"data.data_dir={idx_data_dir}", "data.train_split=train[:8]", "data.val_split=train[8:12]",
        "data.batch_size=4", "data.augment=[]", "epochs=1", "strategy=default", "jit_compile=false",
    ])
    run = train(config, str(tmp_path / "googlenet"), verbose=0)
    with open(tmp_path / "googlenet" / "metrics.jsonl") as f:
        row = json.loads(f.readline())
    assert np.isfinite(row["loss"]) and "val_accuracy" in row
    model = load_run_model(run)
    assert model.output_shape == (None, 10) and not [l.name for l in model.layers if l.name.startswith("aux")]
