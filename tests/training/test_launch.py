"""`launch`: local multi-worker clusters; multi-worker training, and the kill-and-resume fault-tolerance test."""

import io
import json
import os
import socket
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerazoo.training import launch as launcher
from kerazoo.training import load_run_model

PRINT_TF_CONFIG = "import os; print(os.environ['TF_CONFIG'])"


def python(code):
    return [sys.executable, "-c", code]


def test_each_worker_gets_its_tf_config_and_prefixed_output():
    out = io.StringIO()
    assert launcher.launch(python(PRINT_TF_CONFIG), 3, out=out) == 0
    lines = sorted(out.getvalue().splitlines())
    assert [line[:11] for line in lines] == ["[worker 0] ", "[worker 1] ", "[worker 2] "]
    configs = [json.loads(line[11:]) for line in lines]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"]["worker"] == addresses for c in configs)


def test_port_base_sets_the_ports():
    port = launcher.free_ports(1)[0]
    out = io.StringIO()
    assert launcher.launch(python(PRINT_TF_CONFIG), 1, port_base=port, out=out) == 0
    assert json.loads(out.getvalue()[11:])["cluster"]["worker"] == [f"127.0.0.1:{port}"]


def test_a_failing_worker_stops_the_others_and_its_code_is_returned():
    # Worker 1 fails at once; worker 0 would run for a minute.
    code = "import json, os, sys, time; i = json.loads(os.environ['TF_CONFIG'])['task']['index']; " \
           "sys.exit(3) if i == 1 else time.sleep(60)"
    assert launcher.launch(python(code), 2, out=io.StringIO(), grace=2) == 3


def test_wait_lets_the_other_workers_finish():
    code = "import json, os, sys; i = json.loads(os.environ['TF_CONFIG'])['task']['index']; " \
           "print('done', i); sys.exit(4 if i == 0 else 0)"
    out = io.StringIO()
    assert launcher.launch(python(code), 2, wait=True, out=out) == 4
    assert "[worker 1] done 1" in out.getvalue()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Invalid workers"):
        launcher.launch(python("pass"), 0)
    with pytest.raises(ValueError, match="Invalid command"):
        launcher.launch([], 2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ValueError, match=f"port {busy.getsockname()[1]} on 127.0.0.1 is in use"):
            launcher.launch(python("pass"), 1, port_base=busy.getsockname()[1])


def test_cli_launch_passes_the_command_through(capsys):
    from kerazoo.cli import main

    assert main(["launch", "--workers", "2", "--", *python(PRINT_TF_CONFIG)]) == 0
    assert capsys.readouterr().out.count('"task"') == 2
    assert main(["launch", "--workers", "2"]) == 2
    assert "after --" in capsys.readouterr().err


# ---- multi-worker training: real workers, so the test starts TensorFlow in fresh processes (slow tier) -----------

# An unshuffled training split ("test..."): the resumed 2-worker run can then be compared weight for weight with one
# uninterrupted process (Keras draws an extra iterator under a strategy, which would reshuffle differently).
EPOCHS, STEPS = 3, 3  # 48 training images, global batch 16
TINY = ["model.name=lenet5", "data.train_split=test[:48]", "data.val_split=train[:32]", "data.augment=[]",
        "data.batch_size=16", f"epochs={EPOCHS}", "optimizer.lr=0.05", "jit_compile=false"]

# The same training as `kerazoo train`, plus a callback that records the epochs each worker starts and, on the first
# attempt only (a marker file), kills worker 1 with SIGKILL in the middle of epoch 2, after epoch 1 was backed up.
DRIVER = textwrap.dedent("""
    import os, signal, sys
    import keras
    from kerazoo.training import load_config, train
    from kerazoo.training.strategy import task_name

    out, log_dir = sys.argv[1], sys.argv[2]
    marker = os.path.join(log_dir, "killed")

    class KillWorker1MidEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            with open(os.path.join(log_dir, task_name() + ".epochs"), "a") as f:
                f.write(f"{epoch + 1}\\n")

        def on_train_batch_end(self, batch, logs=None):
            if task_name() == "worker-1" and self.epoch == 1 and batch == 1 and not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)

    config = load_config(overrides=sys.argv[3:])
    train(config, out, extra_callbacks=[KillWorker1MidEpoch2()], verbose=2)
""")


def worker_env(tmp_path):
    private_tmp = tmp_path / "worker_tmp"  # where non-chief workers put their throw-away backups
    private_tmp.mkdir(exist_ok=True)
    return {"TMPDIR": str(private_tmp), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def no_temporary_files(run_dir):
    return [os.path.join(d, f) for d, _, files in os.walk(run_dir) for f in files if f.startswith(".tmp-")]


def test_cli_multi_worker_without_a_cluster_is_a_clear_error(capsys, monkeypatch, tmp_path, idx_data_dir):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    from kerazoo.cli import main

    code = main(["train", *TINY, "--strategy", "multi_worker", "--data-dir", idx_data_dir, "--out", str(tmp_path / "r")])
    assert code == 2 and "kerazoo launch --workers N" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_worker_resumes_and_the_job_finishes_like_one_process(tmp_path, idx_data_dir):
    """2 local workers; worker 1 is SIGKILLed mid-epoch 2; the relaunched job resumes from the epoch-1 backup and
    ends with the step count and (the data being unshuffled) the weights of one uninterrupted single-process run."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out, logs = str(tmp_path / "run"), tmp_path / "logs"
    logs.mkdir()
    command = [sys.executable, str(driver), out, str(logs), *TINY, "strategy=multi_worker",
               f"data.data_dir={idx_data_dir}"]
    log = io.StringIO()

    code = launcher.launch(command, 2, env=worker_env(tmp_path), out=log, grace=5)
    assert code == 128 + 9, log.getvalue()[-3000:]  # worker 1 was SIGKILLed; worker 0 was then stopped
    with open(os.path.join(out, "backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 1, "epoch 1 was backed up before the kill in epoch 2"
    assert sorted(os.listdir(os.path.join(out, "backup"))) == ["epoch-1.weights.h5", "training_metadata.json"]
    assert not os.path.exists(os.path.join(out, "summary.json"))
    for name in ("worker-0", "worker-1"):
        (logs / f"{name}.epochs").write_text("")  # keep only what the relaunch starts

    code = launcher.launch(command, 2, env=worker_env(tmp_path), out=log, grace=5)
    assert code == 0, log.getvalue()[-3000:]
    for name in ("worker-0", "worker-1"):
        assert (logs / f"{name}.epochs").read_text().split() == ["2", "3"], "only epochs after the backup rerun"
    with open(os.path.join(out, "metrics.jsonl")) as f:
        assert [json.loads(line)["epoch"] for line in f] == [1, 2, 3]  # the chief alone logs, each epoch once
    with open(os.path.join(out, "config.yaml")) as f:
        resolved = __import__("yaml").safe_load(f)["resolved"]
    assert resolved["strategy"] == {"class": "MultiWorkerMirroredStrategy", "replicas": 2}
    assert resolved["global_batch_size"] == 16 and resolved["per_replica_batch_size"] == 8
    assert resolved["shard_policy"] == "DATA" and resolved["resumed"] is True
    assert os.path.exists(os.path.join(out, "summary.json")) and not os.path.exists(os.path.join(out, "backup"))
    leftovers = [n for n in os.listdir(tmp_path / "worker_tmp") if n.startswith("kerazoo-backup-")]
    assert leftovers == [], "the non-chief worker removes its temporary backups"
    assert no_temporary_files(out) == []
    # The checkpoints' compiled loss lives in kerazoo.losses, which load_run_model does not import by itself.
    __import__("kerazoo.losses")

    assert isinstance(load_run_model(out, "best"), keras.Model)  # hash-checked: never half-written

    # Synchronous data parallelism: 2 workers x 8 images, resumed, = one process with the same 16-image batches.
    from kerazoo.training import load_config, train

    single = train(load_config(overrides=[*TINY, f"data.data_dir={idx_data_dir}", "strategy=default"]),
                   str(tmp_path / "single"), verbose=0)
    resumed, uninterrupted = load_run_model(out, "last"), load_run_model(single, "last")
    assert int(resumed.optimizer.iterations) == int(uninterrupted.optimizer.iterations) == EPOCHS * STEPS
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


# ---- the backup itself: never half-written, written by the chief alone (in-process, fast) ------------------------

def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")], name="tiny")
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)  # builds the optimizer state too
    return model


def backup_after_epoch(callback, epoch):
    callback._current_epoch = epoch
    callback._save_model()


def test_a_crash_while_backing_up_keeps_the_previous_backup(tmp_path, monkeypatch):
    from kerazoo.training.callbacks import AtomicBackupAndRestore

    folder = str(tmp_path / "backup")
    model = tiny_model()
    backup = AtomicBackupAndRestore(folder)
    backup.set_model(model)
    backup_after_epoch(backup, 1)
    kept = model.get_weights()

    def crash_half_way(path, overwrite=True):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    model.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1, verbose=0)  # the weights move on
    monkeypatch.setattr(model, "save_weights", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        backup_after_epoch(backup, 2)

    restored = tiny_model()
    resume = AtomicBackupAndRestore(folder)
    resume.set_model(restored)
    resume.on_train_begin()
    assert restored._initial_epoch == 1
    for a, b in zip(restored.get_weights(), kept):
        np.testing.assert_array_equal(a, b)
    assert int(restored.optimizer.iterations) == 1  # the optimizer state comes back with the weights


def test_a_non_chief_worker_leaves_no_backup(tmp_path, monkeypatch):
    from kerazoo.training.callbacks import AtomicBackupAndRestore

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(private))
    shared = tmp_path / "backup"
    backup = AtomicBackupAndRestore(str(shared), chief=False, worker="worker-1")
    backup.set_model(tiny_model())
    backup_after_epoch(backup, 1)
    backup.on_train_end()
    assert not shared.exists() and os.listdir(private) == []
