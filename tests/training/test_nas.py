"""Architecture search: the space as data, the controller's samples build and train, REINFORCE learns a toy reward,
a killed search resumes to the same results, the best architecture's config trains, and bad arguments are named."""

import importlib
import json

import keras
import numpy as np
import pytest
import yaml

from kerazoo.applications import create_model
from kerazoo.applications.nas_cnn import check_architecture
from kerazoo.training import load_config
from kerazoo.training.nas import Controller, nas_search, reinforce_step
from kerazoo.training.nas_space import SearchSpace

nas_module = importlib.import_module("kerazoo.training.nas")


def test_choices_map_to_an_architecture_and_bad_choices_are_named():
    space = SearchSpace(num_layers=(2, 3), filters=(8, 16), kernel_sizes=(3, 5), pool_every=2)
    # depth 3: layer0 f/k, layer1 f/k, layer2 f/k/skip0
    choices = [1, 0, 1, 1, 0, 1, 1, 1]
    assert [d.name for d in space.all_decisions(choices)] == [
        "num_layers", "layer0.filters", "layer0.kernel_size", "layer1.filters", "layer1.kernel_size",
        "layer2.filters", "layer2.kernel_size", "layer2.skip0"]
    assert space.architecture(choices) == [
        {"filters": 8, "kernel_size": 5, "skips": [], "pool": False},
        {"filters": 16, "kernel_size": 3, "skips": [], "pool": True},
        {"filters": 16, "kernel_size": 5, "skips": [0], "pool": False},
    ]
    with pytest.raises(ValueError, match="Incomplete architecture choices"):
        space.architecture(choices[:-1])
    with pytest.raises(ValueError, match="Invalid choice for layer0.filters: expected 0..1. Received: 2"):
        space.architecture([1, 2, 1, 1, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="Invalid search space filters"):
        SearchSpace(filters=())


def test_every_sampled_architecture_builds_and_two_train_one_step():
    space = SearchSpace()
    keras.utils.set_random_seed(0)
    controller = Controller(space.kinds, units=16)
    architectures = [space.architecture(controller.walk(space, rng=np.random.default_rng([0, k]))[0])
                     for k in range(24)]
    architectures += [space.architecture(space.sample_uniform(np.random.default_rng(k))) for k in range(8)]
    assert {len(a) for a in architectures} >= {2, 6} and any(l["skips"] for a in architectures for l in a)
    models = [create_model("nas_cnn", architecture=a, input_shape=(28, 28, 1), classes=10,
                           classifier_activation=None) for a in architectures]
    for model, architecture in zip(models, architectures):
        assert model.output_shape == (None, 10)
        convs = [layer for layer in model.layers if layer.name.endswith("_conv")]
        assert [c.filters for c in convs] == [l["filters"] for l in architecture]
        assert [c.kernel_size[0] for c in convs] == [l["kernel_size"] for l in architecture]
    x = np.random.default_rng(0).uniform(0, 255, size=(4, 28, 28, 1)).astype("float32")
    y = np.array([0, 1, 2, 3])
    deepest = max(range(len(models)), key=lambda i: (len(architectures[i]),
                                                     sum(len(l["skips"]) for l in architectures[i])))
    for model in (models[0], models[deepest]):
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      run_eagerly=True)
        assert np.isfinite(model.train_on_batch(x, y))


def test_reinforce_raises_the_probability_of_a_rewarded_choice():
    space = SearchSpace(num_layers=(2, 3, 4), filters=(8, 16), kernel_sizes=(3,))
    keras.utils.set_random_seed(1)
    controller = Controller(space.kinds, units=16)
    optimizer = keras.optimizers.Adam(0.05)
    before = controller.next_probabilities(space)
    baseline = None
    for k in range(25):  # toy reward: 1 for three layers (choice 1 of num_layers), else 0
        choices = controller.walk(space, rng=np.random.default_rng([7, k]))[0]
        reward = float(choices[0] == 1)
        baseline = reward if baseline is None else baseline
        reinforce_step(controller, optimizer, space, choices, reward - baseline, 0.0)
        baseline = 0.8 * baseline + 0.2 * reward
    after = controller.next_probabilities(space)
    assert before[1] < 0.5 < after[1], (before, after)
    np.testing.assert_allclose(after.sum(), 1.0, rtol=1e-5)


def _stub_child(calls, kill_at=0):
    """A deterministic stand-in for training: the reward follows the architecture (wider, deeper = better)."""

    def child(config, verbose=0):
        architecture = config.model.kwargs["architecture"]
        calls.append(architecture)
        if len(calls) == kill_at:
            raise KeyboardInterrupt  # a kill: nothing after this point runs
        score = sum(l["filters"] * l["kernel_size"] for l in architecture) / 1500
        return {"val_accuracy": min(score, 1.0), "val_loss": 1.0 - min(score, 1.0), "diverged": False}

    return child


def _figures(rows):
    return [{k: r[k] for k in ("child", "choices", "architecture", "val_accuracy")} for r in rows]


@pytest.mark.parametrize("method", ["nas", "nas_random"])
def test_killed_search_resumes_with_its_finished_children_and_same_results(tmp_path, monkeypatch, method):
    config = load_config(overrides=["data.augment=[]"])
    calls = []
    monkeypatch.setattr(nas_module, "run_child", _stub_child(calls))
    whole = nas_search(config, method=method, children=6, child_steps=5, out=str(tmp_path / "whole"))
    assert len(calls) == 6
    if method == "nas":  # the controller learned: the searches differ from the first update on
        assert len({json.dumps(r["choices"]) for r in whole.rows}) > 1

    calls.clear()
    monkeypatch.setattr(nas_module, "run_child", _stub_child(calls, kill_at=4))
    with pytest.raises(KeyboardInterrupt):
        nas_search(config, method=method, children=6, child_steps=5, out=str(tmp_path / "killed"))
    assert len(json.loads((tmp_path / "killed" / "results.json").read_text())["rows"]) == 3
    calls.clear()
    monkeypatch.setattr(nas_module, "run_child", _stub_child(calls))
    resumed = nas_search(config, method=method, children=6, child_steps=5, out=str(tmp_path / "killed"))
    assert calls == [r["architecture"] for r in whole.rows[3:]], "only the children not yet trained are trained"
    assert _figures(resumed.rows) == _figures(whole.rows)
    if method == "nas":
        with np.load(tmp_path / "whole" / "controller.npz") as a, np.load(tmp_path / "killed" / "controller.npz") as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(ValueError, match="other settings \\(seed differ\\)"):
        nas_search(config, method=method, children=6, child_steps=5, seed=1, out=str(tmp_path / "killed"))

    calls.clear()  # a finished search extended with more children: the first ones are reused, the results the same
    nas_search(config, method=method, children=4, child_steps=5, out=str(tmp_path / "grown"))
    grown = nas_search(config, method=method, children=6, child_steps=5, out=str(tmp_path / "grown"))
    assert len(calls) == 6 and _figures(grown.rows) == _figures(whole.rows)


def test_a_kill_between_results_and_controller_replays_the_update(tmp_path, monkeypatch):
    config = load_config(overrides=["data.augment=[]"])
    calls = []
    monkeypatch.setattr(nas_module, "run_child", _stub_child(calls))
    whole = nas_search(config, children=5, child_steps=5, out=str(tmp_path / "whole"))
    save = nas_module._save_controller

    def killed_save(out, controller, optimizer, baseline, children):
        if children == 3:
            raise KeyboardInterrupt  # results.json lists child 3; controller.npz is still after child 2
        save(out, controller, optimizer, baseline, children)

    monkeypatch.setattr(nas_module, "_save_controller", killed_save)
    with pytest.raises(KeyboardInterrupt):
        nas_search(config, children=5, child_steps=5, out=str(tmp_path / "killed"))
    monkeypatch.setattr(nas_module, "_save_controller", save)
    calls.clear()
    resumed = nas_search(config, children=5, child_steps=5, out=str(tmp_path / "killed"))
    assert len(calls) == 2 and _figures(resumed.rows) == _figures(whole.rows)


def test_search_cli_writes_a_config_that_trains(tmp_path, idx_data_dir, capsys):
    from kerazoo.cli import main

    out = tmp_path / "nas"
    code = main(["search", "--method", "nas", "data.batch_size=16", "data.augment=[]", "data.val_split=train[64:]",
                 "data.train_split=train[:64]", "optimizer.name=adam", "optimizer.lr=0.003", "jit_compile=false",
                 "--dataset", "fashion_mnist", "--data-dir", idx_data_dir, "--children", "2", "--child-steps", "2",
                 "--epochs", "1", "--steps-per-epoch", "2", "--out", str(out)])
    assert code == 0
    saved = json.loads((out / "results.json").read_text())
    assert [r["child"] for r in saved["rows"]] == [1, 2]
    assert all(0.0 <= r["val_accuracy"] <= 1.0 for r in saved["rows"])
    assert (out / "controller.npz").stat().st_size > 0 and (out / "rewards.png").stat().st_size > 0
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["model"]["name"] == "nas_cnn"
    assert best["model"]["kwargs"]["architecture"] == saved["best"]["architecture"]
    assert "best: child" in capsys.readouterr().out

    run = tmp_path / "run"
    assert main(["train", "--config", str(out / "best.yaml"), "--out", str(run)]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["kwargs"]["architecture"] == saved["best"]["architecture"]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics


def test_search_cli_child_lines_are_stage_lines_that_quiet_hides(tmp_path, monkeypatch, capsys):
    import logging

    from kerazoo.cli import main, output

    monkeypatch.setattr(nas_module, "run_child", _stub_child([]))
    argv = ["search", "--method", "nas", "data.augment=[]", "--children", "2", "--child-steps", "2"]
    try:
        assert main([*argv, "--out", str(tmp_path / "normal")]) == 0
        normal = capsys.readouterr()
        assert [line.split(":")[1] for line in normal.err.splitlines() if line.startswith("kerazoo: child")] == \
            [" child 1/2", " child 2/2"], normal.err
        assert main(["-q", *argv, "--out", str(tmp_path / "quiet")]) == 0
        quiet = capsys.readouterr()
    finally:
        output.configure(output.NORMAL)
        logging.getLogger().setLevel(logging.WARNING)
    assert "child 1/2" not in normal.out + quiet.out + quiet.err, (normal.out, quiet)
    assert "best: child" in normal.out and "best: child" in quiet.out


@pytest.mark.parametrize("argv, message", [
    (["search", "--method", "nas", "resnet20"], "searches nas_cnn architectures; leave the model out"),
    (["search", "--method", "nas", "--param", "optimizer.lr=1e-3:1"], "--param is for --method random"),
    (["search", "resnet20"], "needs a model and at least one --param"),
    (["search", "--method", "nas", "--out", "OUT", "model.kwargs={}", "epochs=zero"], "epochs"),
])
def test_bad_cli_arguments_are_one_line_errors(argv, message, capsys, tmp_path):
    from kerazoo.cli import main

    argv = [str(tmp_path / "o") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "nass"}, "Did you mean 'nas'"),
    ({"children": 0}, "Invalid children: expected an integer >= 1. Received: children=0"),
    ({"child_steps": 1.5}, "Invalid child_steps"),
    ({"baseline_decay": 1.0}, "Invalid baseline_decay"),
])
def test_bad_search_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nas_search(load_config(), **kwargs)


@pytest.mark.parametrize("architecture, message", [
    ([], "non-empty list"),
    ([{"filters": 8, "kernel_size": 3}, {"filters": 0, "kernel_size": 3}], "layer 1: expected filters a positive"),
    ([{"filters": 8, "kernel_size": 3}, {"filters": 8, "kernel_size": 3, "skips": [0]}], "layer 1: expected skips"),
    ([{"filters": 8, "kernel_size": 3, "stride": 2}], "unknown key\\(s\\) stride"),
])
def test_bad_architectures_are_named(architecture, message):
    with pytest.raises(ValueError, match=message):
        check_architecture(architecture)
