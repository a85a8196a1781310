"""Random search in log space: sampling, refinement, divergence stop, a tiny end-to-end search and the CLI."""

import importlib
import json
import math

import keras
import numpy as np
import pytest

from kerazoo.training import load_config
from kerazoo.training.search import DivergenceStop, refine, sample, search


def test_samples_are_log_uniform_within_bounds():
    points = sample({"optimizer.lr": (1e-5, 1e-1)}, 2000, np.random.default_rng(0))
    logs = np.log10([p["optimizer.lr"] for p in points])
    assert logs.min() >= -5 and logs.max() <= -1
    assert abs(np.mean(logs < -3) - 0.5) < 0.05  # half the samples below the geometric middle


def test_refine_narrows_around_the_best_trials():
    space = {"optimizer.lr": (1e-5, 1.0)}
    rows = [{"params": {"optimizer.lr": lr}, "val_accuracy": acc, "diverged": div}
            for lr, acc, div in [(1e-4, 0.5, False), (1e-3, 0.8, False), (3e-3, 0.9, False), (1e-2, 0.85, False),
                                 (0.5, 0.0, True), (1e-5, 0.2, False)]]
    low, high = refine(space, rows)["optimizer.lr"]
    assert math.isclose(low, 10 ** -3.5) and math.isclose(high, 10 ** -1.5)


def test_divergence_stop_stops_when_loss_triples():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="out")], name="lin")
    model.compile(optimizer=keras.optimizers.SGD(5.0), loss="mse")
    stop = DivergenceStop()
    history = model.fit(x, y, batch_size=8, epochs=20, verbose=0, callbacks=[stop])
    assert stop.diverged and len(history.history["loss"]) == 1


def test_bad_space_is_rejected():
    config = load_config()
    with pytest.raises(ValueError, match="0 < low < high"):
        search(config, {"optimizer.lr": (0.0, 1.0)})
    with pytest.raises(ValueError, match="Unknown config field 'optimizer.lrr'"):
        search(config, {"optimizer.lrr": (1e-3, 1.0)})


@pytest.mark.slow
def test_search_end_to_end_and_cli(tmp_path, idx_data_dir, capsys):
    from kerazoo.cli import main

    code = main(["search", "lenet5", "data.batch_size=16", "data.augment=[]", "data.val_split=train[64:]",
                 "data.train_split=train[:64]", "optimizer.name=adam", "jit_compile=false",
                 "--dataset", "fashion_mnist", "--data-dir", idx_data_dir, "--param", "optimizer.lr=1e-4:10",
                 "--trials", "2", "--stages", "2", "--steps-per-epoch", "3", "--out", str(tmp_path)])
    assert code == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["stage"] for r in saved["rows"]] == [1, 1, 2, 2]
    low, high = saved["spaces"][1]["optimizer.lr"]
    assert 1e-4 <= low < high <= 10
    assert all(low <= r["params"]["optimizer.lr"] <= high for r in saved["rows"][2:])
    assert (tmp_path / "search.png").stat().st_size > 0
    assert "best:" in capsys.readouterr().out


def test_killed_search_resumes_with_its_finished_trials(tmp_path, monkeypatch):
    search_module = importlib.import_module("kerazoo.training.search")  # the package exports the function as search

    def trial(config, verbose=0):  # a deterministic stand-in for training: the figures follow the sampled rate
        calls.append(config.optimizer.lr)
        if len(calls) == kill_at:
            raise KeyboardInterrupt  # a kill: nothing after this point runs
        return {"val_accuracy": 1 / (1 + abs(math.log10(config.optimizer.lr) + 2)), "val_loss": config.optimizer.lr,
                "diverged": False}

    monkeypatch.setattr(search_module, "run_trial", trial)
    config = load_config(overrides=["model.name=lenet5"])
    space = {"optimizer.lr": (1e-4, 1.0)}
    calls, kill_at = [], 0
    whole = search_module.search(config, space, trials=2, stages=2, out=str(tmp_path / "whole"))
    uninterrupted_calls = list(calls)

    calls, kill_at = [], 3
    with pytest.raises(KeyboardInterrupt):
        search_module.search(config, space, trials=2, stages=2, out=str(tmp_path / "killed"))
    assert len(json.loads((tmp_path / "killed" / "results.json").read_text())["rows"]) == 2
    calls, kill_at = [], 0
    resumed = search_module.search(config, space, trials=2, stages=2, out=str(tmp_path / "killed"))
    assert calls == uninterrupted_calls[2:], "only the trials not yet written are run"
    assert resumed.rows == whole.rows and resumed.spaces == whole.spaces
    with pytest.raises(ValueError, match="other settings \\(seed differ\\)"):
        search_module.search(config, space, trials=2, stages=2, seed=1, out=str(tmp_path / "killed"))
