"""kerazoo.runs.RunDir: create and resume, the metrics log (torn last line), checkpoints and their hashes, the backup,
the summary, and atomic writes (a failed write leaves the old file)."""

import json
import os

import keras
import numpy as np
import pytest

from kerazoo.runs import RunDir, list_runs

CONFIG = {"model": {"name": "lenet5"}, "epochs": 3, "seed": 0}


def tiny_model():
    inputs = keras.Input((4,), name="x")
    return keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs), name="tiny")


def test_create_then_resume_with_the_same_config(tmp_path):
    run = RunDir(tmp_path / "run")
    assert not run.exists() and not run.prepare(CONFIG)
    assert os.path.isdir(run.checkpoint_dir)
    run.write_config({**CONFIG, "resolved": {"steps_per_epoch": 5}})
    assert run.read_config()["resolved"] == {"steps_per_epoch": 5}
    assert RunDir(tmp_path / "run").prepare(CONFIG)  # resolved facts aside, the same config: resume


def test_resume_refuses_another_config_and_a_complete_run(tmp_path):
    run = RunDir(tmp_path / "run")
    run.prepare(CONFIG)
    run.write_config(CONFIG)
    with pytest.raises(ValueError, match=r"fields epochs, seed differ"):
        run.prepare({**CONFIG, "epochs": 4, "seed": 1})
    os.makedirs(run.backup_dir)
    run.finish({"accuracy": 0.5})
    assert run.complete and not os.path.exists(run.backup_dir) and run.read_summary() == {"accuracy": 0.5}
    os.makedirs(run.backup_dir)  # killed between the summary and the backup's removal
    with pytest.raises(FileExistsError, match="already complete"):
        run.prepare(CONFIG)
    assert not os.path.exists(run.backup_dir)
    assert not run.prepare(CONFIG, overwrite=True) and not run.exists() and not run.complete


def test_read_config_of_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not a kerazoo run directory: it has no config.yaml"):
        RunDir(tmp_path).read_config()


def test_torn_metrics_line_is_skipped_then_cut_off(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics({"epoch": 1, "loss": 2.0})
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        f.write('{"epoch": 2, "lo')  # a kill inside the second append
    assert run.read_metrics() == [{"epoch": 1, "loss": 2.0}]
    run.append_metrics({"epoch": 2, "loss": 1.0})
    with open(run.metrics_path, encoding="utf-8") as f:
        assert f.read() == '{"epoch": 1, "loss": 2.0}\n{"epoch": 2, "loss": 1.0}\n'
    assert not run.repair_metrics()
    run.keep_metrics(1)
    assert run.read_metrics() == [{"epoch": 1, "loss": 2.0}]


def test_checkpoint_round_trip_and_hash_mismatch(tmp_path):
    run = RunDir(tmp_path)
    model = tiny_model()
    with pytest.raises(FileNotFoundError, match="has no checkpoint yet"):
        run.load_model()
    path = run.save_checkpoint(model, "last")
    loaded = run.load_model()  # no best: falls back to last
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with open(f"{path}.sha256", encoding="utf-8") as f:
        assert f.read().split()[1] == "last.keras"
    with open(path, "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match=r"does not match its hash file .*last.keras.sha256: expected sha256"):
        run.load_model("last")
    with pytest.raises(ValueError, match=r"Invalid checkpoint 'final'"):
        run.find_checkpoint("final")


def test_failed_writes_leave_the_old_files(tmp_path):
    run = RunDir(tmp_path)
    model = tiny_model()
    path = run.save_checkpoint(model, "best")
    before = open(path, "rb").read()

    class Broken:
        def save(self, tmp):
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run.save_checkpoint(Broken(), "best")
    assert open(path, "rb").read() == before and sorted(os.listdir(run.checkpoint_dir)) == [
        "best.keras", "best.keras.sha256"]
    run.load_model("best")  # still matches its hash
    run.write_json("summary.json", {"a": 1})
    with pytest.raises(TypeError):
        run.write_json("summary.json", {"a": object()})
    assert run.read_summary() == {"a": 1} and not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_backup_round_trip_with_extra_arrays(tmp_path):
    run = RunDir(tmp_path)
    model = tiny_model()
    assert run.backed_up_epochs() == 0 and run.read_backup(model) is None
    run.write_backup(model, epoch=1, arrays={"averaging.updates": np.array(3)})
    model.get_layer("dense").kernel.assign(np.zeros((4, 2), np.float32))
    run.write_backup(model, epoch=2, arrays={"averaging.updates": np.array(7)})
    assert sorted(os.listdir(run.backup_dir)) == ["epoch-2.states.npz", "epoch-2.weights.h5", "training_metadata.json"]
    fresh = tiny_model()
    state = run.read_backup(fresh)
    assert state["epoch"] == run.backed_up_epochs() == 2 and int(state["arrays"]["averaging.updates"]) == 7
    np.testing.assert_array_equal(fresh.get_layer("dense").kernel.numpy(), np.zeros((4, 2)))


def test_state_folder_round_trip_and_a_failed_write_keeps_the_old_state(tmp_path):
    """checkpoints/last/ as arrays + meta (RL's state): replaced whole; a write that fails leaves the old state."""
    run = RunDir(tmp_path)
    assert run.read_state_meta() is None
    run.save_state({"q/0": np.arange(3.0)}, {"step": 10})
    run.save_state({"q/0": np.arange(4.0), "buffer": np.ones((2, 2))}, {"step": 20})
    arrays, meta = run.load_state()
    assert meta == {"step": 20} and sorted(arrays) == ["buffer", "q/0"]
    np.testing.assert_array_equal(arrays["q/0"], np.arange(4.0))
    with pytest.raises(TypeError):
        run.save_state({"q/0": np.zeros(1)}, {"step": object()})
    assert run.load_state()[1] == {"step": 20} and os.listdir(run.checkpoint_dir) == ["last"]


def test_list_runs_and_status(tmp_path):
    for name in ("b", "a/nested"):
        run = RunDir(tmp_path / name)
        run.prepare(CONFIG)
        run.write_config(CONFIG)
    os.makedirs(tmp_path / "a" / "nested" / "inner")
    with open(tmp_path / "a" / "nested" / "inner" / "config.yaml", "w", encoding="utf-8") as f:
        f.write("{}")  # inside a run: not searched
    runs = list_runs(tmp_path)
    assert [os.path.relpath(r.path, tmp_path) for r in runs] == [os.path.join("a", "nested"), "b"]
    assert runs[0].status() == "interrupted"
    runs[0].touch_heartbeat()
    assert runs[0].status() == "running"
    runs[1].finish({})
    assert runs[1].status() == "complete"
    with pytest.raises(FileNotFoundError, match="No runs folder"):
        list_runs(tmp_path / "missing")
    assert json.loads(json.dumps(runs[1].read_summary())) == {}
