import json

import numpy as np

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
