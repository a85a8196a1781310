import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from kerazoo import runtime


def test_prefer_onednn_sets_the_variable_only_when_it_still_counts(monkeypatch):
    monkeypatch.delenv(runtime.ONEDNN_ENV, raising=False)
    assert runtime.prefer_onednn() is False, "TensorFlow is loaded in this process: setting it now would be a lie"
    assert runtime.ONEDNN_ENV not in os.environ

    monkeypatch.delitem(sys.modules, "tensorflow")  # as in a fresh `kerazoo` process
    assert runtime.prefer_onednn(enable=False) is False and runtime.ONEDNN_ENV not in os.environ
    monkeypatch.setenv(runtime.ONEDNN_ENV, "0")  # the user's choice wins
    assert runtime.prefer_onednn() is False and os.environ[runtime.ONEDNN_ENV] == "0"
    monkeypatch.delenv(runtime.ONEDNN_ENV)
    assert runtime.prefer_onednn() is True and os.environ[runtime.ONEDNN_ENV] == "1"


def kerazoo_train(data_dir, out, *flags, model="lenet5", epochs=2):
    env = {k: v for k, v in os.environ.items() if k != runtime.ONEDNN_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "kerazoo", "train", model, "--out", str(out), "--epochs", str(epochs),
         "--batch-size", "16", "--strategy", "default", f"data.data_dir={data_dir}", "data.train_split=train[:64]",
         "data.val_split=train[64:]", *flags],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "config.yaml") as f:
        onednn = yaml.safe_load(f)["resolved"]["speed"]["onednn"]
    with open(out / "metrics.jsonl") as f:
        return onednn, [(row["loss"], row["val_loss"]) for row in map(json.loads, f)]


def test_kerazoo_command_trains_with_onednn_and_the_same_losses(tmp_path, idx_data_dir):
    fast, fast_losses = kerazoo_train(idx_data_dir, tmp_path / "fast")
    plain, plain_losses = kerazoo_train(idx_data_dir, tmp_path / "plain", "--no-speed")
    assert fast == {"enabled": True, "reason": f"{runtime.ONEDNN_ENV}=1"}
    assert plain["reason"] == "TensorFlow's default for this CPU"
    np.testing.assert_allclose(fast_losses, plain_losses, rtol=1e-4)


@pytest.mark.slow
def test_onednn_runs_repeat_bit_for_bit_under_op_determinism(tmp_path, idx_data_dir):
    """With the fused batch norm too (ResNet-20): both are the ``kerazoo`` command's defaults."""
    (_, a), (_, b) = (kerazoo_train(idx_data_dir, tmp_path / name, model="resnet20", epochs=1) for name in "ab")
    assert a == b
