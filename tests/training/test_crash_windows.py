"""A process killed (``os._exit(137)``, no cleanup) at each window of a run's life loses no work: training again into
the same directory ends with the metrics.jsonl and summary.json of an uninterrupted run, epoch for epoch."""

import json
import os
import subprocess
import sys

import keras
import pytest

from kerazoo.training import load_config, train

OVERRIDES = [
    "model.name=lenet5", "jit_compile=false", "data.train_split=train[:64]", "data.val_split=train[64:]",
    "data.batch_size=16", "data.augment=[]", "epochs=3", "optimizer.name=adam", "optimizer.lr=0.003",
    "optimizer.weight_decay=0", "strategy=default",
]

# Trains OVERRIDES into OUT and kills the process (exit 137, no cleanup) in epoch 2 at WINDOW:
#   epoch       inside the epoch (after its second batch);
#   metrics     after the epoch's metrics.jsonl line, before its backup;
#   backup      after the epoch's backup, before the callbacks that follow it;
#   evaluation  during the final test evaluation (every epoch backed up, no summary.json).
KILLER = """
import os, sys
import keras
from kerazoo.training import callbacks as cb, load_config, train
from kerazoo.training.tasks import task_for_model

out, window, *overrides = sys.argv[1:]
config = load_config(overrides=overrides)
KILLED_EPOCH = 1  # 0-based: the second epoch

class KillInEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == KILLED_EPOCH and batch == 1:
            os._exit(137)
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

def after(original, when):
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if when(*args, **kwargs):
            os._exit(137)
        return result
    return wrapper

extra = []
if window == "epoch":
    extra = [KillInEpoch()]
elif window == "metrics":
    cb.MetricsLogger.on_epoch_end = after(cb.MetricsLogger.on_epoch_end, lambda self, epoch, logs=None: epoch == KILLED_EPOCH)
elif window == "backup":
    cb.write_backup = after(cb.write_backup, lambda folder, model, *, epoch, **_: epoch == KILLED_EPOCH + 1)
elif window == "evaluation":
    task = type(task_for_model(config.model.name))
    task.evaluate = lambda *args, **kwargs: os._exit(137)
train(config, out, extra_callbacks=extra, verbose=0)
sys.exit("not killed")
"""

DETERMINISTIC_SUMMARY = ("epochs", "split", "examples", "loss", "accuracy", "best")


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_summary(run_dir):
    with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


class CountEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, idx_data_dir):
    config = load_config(overrides=[*OVERRIDES, f"data.data_dir={idx_data_dir}"])
    return train(config, str(tmp_path_factory.mktemp("crash") / "uninterrupted"), verbose=0)


@pytest.mark.parametrize("window, redone", [
    pytest.param("epoch", [2, 3], marks=pytest.mark.slow),  # the backup names epoch 1
    # epoch 2's line is written but not backed up: dropped, then epoch 2 redone
    pytest.param("metrics", [2, 3], marks=pytest.mark.slow),
    ("backup", [3]),           # epoch 2's line was written before its backup
    ("evaluation", []),        # every epoch backed up: straight to the evaluation and summary
])
def test_killed_run_resumes_without_losing_work(tmp_path, idx_data_dir, uninterrupted, window, redone):
    overrides = [*OVERRIDES, f"data.data_dir={idx_data_dir}"]
    out = str(tmp_path / "run")
    killed = subprocess.run([sys.executable, "-c", KILLER, out, window, *overrides], capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert os.path.isdir(os.path.join(out, "backup")) and not os.path.exists(os.path.join(out, "summary.json"))

    counter = CountEpochs()
    train(load_config(overrides=overrides), out, extra_callbacks=[counter], verbose=0)
    assert counter.epochs == redone
    assert not os.path.exists(os.path.join(out, "backup")), "the backup is removed once summary.json is written"

    resumed, reference = read_metrics(out), read_metrics(uninterrupted)
    assert [r["epoch"] for r in resumed] == [r["epoch"] for r in reference] == [1, 2, 3]
    assert [r["lr"] for r in resumed] == [r["lr"] for r in reference]
    # Epochs not run again are bit for bit the uninterrupted run's (a seeded CPU run repeats exactly). A redone epoch
    # is not: the training split's shuffle (reshuffled each iteration) starts its sequence again in a new process, so
    # it draws other batches; its line is there once, with the same keys.
    for mine, theirs in zip(resumed, reference):
        assert mine == theirs if mine["epoch"] not in redone else mine.keys() == theirs.keys()
    summary, expected = read_summary(out), read_summary(uninterrupted)
    same = DETERMINISTIC_SUMMARY if not redone else ("epochs", "split", "examples")
    assert {k: summary.get(k) for k in same} == {k: expected.get(k) for k in same}
    assert summary.keys() == expected.keys()
