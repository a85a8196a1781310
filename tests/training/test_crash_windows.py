"""A process killed (``os._exit(137)``, no cleanup) at each window of a run's life loses no work: training again into
the same directory ends with the metrics.jsonl and summary.json of an uninterrupted run, epoch for epoch."""

import json
import os
import subprocess
import sys

import pytest

from kerazoo.training import load_config, train

OVERRIDES = [
    "model.name=lenet5", "jit_compile=false", "data.train_split=train[:64]", "data.val_split=train[64:]",
    "data.batch_size=16", "data.augment=[]", "epochs=3", "optimizer.name=adam", "optimizer.lr=0.003",
    "optimizer.weight_decay=0", "strategy=default",
    # One intra-op thread: with two, the validation loss of the same weights and batches came out one float32 ulp
    # apart between evaluations in one process (the 3rd of 3 evaluate calls differed), which the exact comparison
    # below would report as lost work. Thread pools are set once per process, so every run here is a fresh process.
    "threads=1",
]

# Trains OVERRIDES into OUT and kills the process (exit 137, no cleanup) in epoch 2 at WINDOW, or (WINDOW none)
# trains to the end and prints the epochs it ran as JSON:
#   epoch       inside the epoch (after its second batch);
#   metrics     after the epoch's metrics.jsonl line, before its backup;
#   backup      after the epoch's backup, before the callbacks that follow it;
#   evaluation  during the final test evaluation (every epoch backed up, no summary.json).
KILLER = """
import json, os, sys
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

class CountEpochs(keras.callbacks.Callback):
    epochs = []
    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)

extra = [CountEpochs()]
if window == "epoch":
    extra.append(KillInEpoch())
elif window == "metrics":
    cb.MetricsLogger.on_epoch_end = after(cb.MetricsLogger.on_epoch_end,
                                          lambda self, epoch, logs=None: epoch == KILLED_EPOCH)
elif window == "backup":
    cb.write_backup = after(cb.write_backup, lambda folder, model, *, epoch, **_: epoch == KILLED_EPOCH + 1)
elif window == "evaluation":
    task = type(task_for_model(config.model.name))
    task.evaluate = lambda *args, **kwargs: os._exit(137)
train(config, out, extra_callbacks=extra, verbose=0)
if window != "none":
    sys.exit("not killed")
print(json.dumps(CountEpochs.epochs))
"""

DETERMINISTIC_SUMMARY = ("epochs", "split", "examples", "loss", "accuracy", "best")


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_summary(run_dir):
    with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


def run_killer(out, window, data_dir, returncode):
    """KILLER in a fresh process; returns the epochs it ran (window none)."""
    done = subprocess.run([sys.executable, "-c", KILLER, out, window, *OVERRIDES, f"data.data_dir={data_dir}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == returncode, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) if window == "none" else None


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, idx_data_dir):
    out = str(tmp_path_factory.mktemp("crash") / "uninterrupted")
    assert run_killer(out, "none", idx_data_dir, 0) == [1, 2, 3]
    return out


@pytest.mark.parametrize("window, redone", [
    pytest.param("epoch", [2, 3], marks=pytest.mark.slow),  # the backup names epoch 1
    # epoch 2's line is written but not backed up: dropped, then epoch 2 redone
    pytest.param("metrics", [2, 3], marks=pytest.mark.slow),
    ("backup", [3]),           # epoch 2's line was written before its backup
    ("evaluation", []),        # every epoch backed up: straight to the evaluation and summary
])
def test_killed_run_resumes_without_losing_work(tmp_path, idx_data_dir, uninterrupted, window, redone):
    out = str(tmp_path / "run")
    run_killer(out, window, idx_data_dir, 137)
    assert os.path.isdir(os.path.join(out, "backup")) and not os.path.exists(os.path.join(out, "summary.json"))

    assert run_killer(out, "none", idx_data_dir, 0) == redone
    assert not os.path.exists(os.path.join(out, "backup")), "the backup is removed once summary.json is written"

    resumed, reference = read_metrics(out), read_metrics(uninterrupted)
    assert [r["epoch"] for r in resumed] == [r["epoch"] for r in reference] == [1, 2, 3]
    # Bit for bit the uninterrupted run's, redone epochs included: a seeded CPU run repeats exactly, and a resumed
    # run draws the batches of the epoch it redoes (kerazoo.training.run.skip_epochs).
    assert resumed == reference
    summary, expected = read_summary(out), read_summary(uninterrupted)
    assert {k: summary.get(k) for k in DETERMINISTIC_SUMMARY} == {k: expected.get(k) for k in DETERMINISTIC_SUMMARY}
    assert summary.keys() == expected.keys()


# The same windows in an RL run (kerazoo.rl: DQN on CartPole): killed after a log line that follows a checkpoint, or
# during the final evaluation of the exported policy.
RL_KILLER = """
import os, sys
from kerazoo.rl import dqn, run

out, window = sys.argv[1:]
args = dqn.make_args(**{**RL_ARGS, "out": out})
if window == "training":
    log = run.RunLogger.log
    def log_then_die(self, step, scalars=None):
        log(self, step, scalars)
        if step == 768:  # after the checkpoint at step 512
            os._exit(137)
    run.RunLogger.log = log_then_die
else:
    evaluate_policy = run.evaluate_policy
    def final_dies(act, env, episodes, *, seed):
        if seed == args.seed + 100_000:  # the final evaluation's seed (the periodic ones use another)
            os._exit(137)
        return evaluate_policy(act, env, episodes, seed=seed)
    run.evaluate_policy = final_dies
dqn.train(args)
sys.exit("not killed")
"""
RL_ARGS = dict(env="CartPole-v1", seed=0, steps=1_024, learning_starts=256, train_freq=128, gradient_steps=16,
               chunk_steps=128, hidden_sizes=[32, 32], eval_episodes=2, eval_every=512, checkpoint_every=512,
               log_every=256, verbose=False)
TIMING = ("time", "sps", "train_seconds")


def without_timing(record):
    return {k: v for k, v in record.items() if k not in TIMING}


@pytest.fixture(scope="module")
def uninterrupted_rl(tmp_path_factory):
    from kerazoo.rl import dqn

    return dqn.train(dqn.make_args(**{**RL_ARGS, "out": str(tmp_path_factory.mktemp("crash") / "rl")}))


@pytest.mark.parametrize("window", ["training", "evaluation"])
def test_killed_rl_run_resumes_without_losing_work(tmp_path, uninterrupted_rl, window):
    from kerazoo.rl import dqn

    out = str(tmp_path / "run")
    killed = subprocess.run([sys.executable, "-c", f"RL_ARGS = {RL_ARGS!r}\n{RL_KILLER}", out, window],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert not os.path.exists(os.path.join(out, "summary.json"))
    dqn.train(dqn.make_args(**{**RL_ARGS, "out": out}))

    resumed, reference = read_metrics(out), read_metrics(uninterrupted_rl)
    assert [(r["step"], r.get("eval")) for r in resumed] == [(r["step"], r.get("eval")) for r in reference]
    summary, expected = read_summary(out), read_summary(uninterrupted_rl)
    if window == "evaluation":  # nothing trained again: the same lines and figures, timing aside
        assert [without_timing(r) for r in resumed] == [without_timing(r) for r in reference]
        assert without_timing(summary) == without_timing(expected)
    else:  # steps after the checkpoint are run again with other environment seeds (kerazoo.rl.environments.env_seed)
        assert [r.keys() for r in resumed] == [r.keys() for r in reference]
        assert summary.keys() == expected.keys() and summary["steps"] == expected["steps"] == 1_024


def test_backup_left_after_the_summary_is_removed_and_the_run_stays_complete(tmp_path, idx_data_dir, uninterrupted):
    """Killed between summary.json and the backup's removal: the run is complete; the next attempt says so and removes
    the leftover backup."""
    import shutil

    out = str(tmp_path / "run")
    shutil.copytree(uninterrupted, out)
    os.makedirs(os.path.join(out, "backup"))
    with open(os.path.join(out, "backup", "training_metadata.json"), "w", encoding="utf-8") as f:
        json.dump({"epoch": 3, "weights": "epoch-3.weights.h5"}, f)
    with pytest.raises(FileExistsError, match="already complete"):
        train(load_config(overrides=[*OVERRIDES, f"data.data_dir={idx_data_dir}"]), out, verbose=0)
    assert not os.path.exists(os.path.join(out, "backup"))
