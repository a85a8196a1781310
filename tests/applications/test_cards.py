"""Model cards: registry facts, measured results with their exact recipes, and a card figure that a re-run of its
recipe reproduces (``kerazoo evaluate``)."""

from __future__ import annotations

import json

import pytest
import yaml

from kerazoo.applications import cards


def test_a_card_without_results_says_so_and_lists_untried_recipes(tmp_path, capsys):
    (tmp_path / "configs").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "configs" / "lenet.yaml").write_text("model:\n  name: lenet5\nepochs: 1\n")
    (tmp_path / "results" / "other.json").write_text(json.dumps(
        {"model": "lenet5", "networks": {"variant": {"test_accuracy": 0.5}}}))  # not attributed: no model field
    card = cards.model_card("lenet5", results_dir=str(tmp_path / "results"), configs_dir=str(tmp_path / "configs"))
    assert card["results"] == [] and card["params"] == 61706 and card["input_shape"] == (32, 32, 1)
    text = cards.card_markdown(card)
    assert "No measured result yet." in text and "lenet.yaml" in text and "LeCun" in text
    from kerazoo.cli import main

    assert main(["models", "show", "lenet5", "--results-dir", str(tmp_path / "results"),
                 "--configs-dir", str(tmp_path / "configs")]) == 0
    assert "no measured result yet" in capsys.readouterr().out


@pytest.mark.slow
def test_card_figure_is_reproduced_by_its_recipe_and_kerazoo_evaluate(idx_data_dir, tmp_path, capsys):
    from kerazoo.cli import main
    from kerazoo.training import load_config, train

    recipe = tmp_path / "configs" / "tiny_lenet5.yaml"
    recipe.parent.mkdir()
    recipe.write_text(yaml.safe_dump({
        "model": {"name": "lenet5"}, "seed": 3, "epochs": 2, "strategy": "default", "jit_compile": False,
        "data": {"dataset": "fashion_mnist", "data_dir": idx_data_dir, "train_split": "train[:80]",
                 "val_split": "train[80:]", "batch_size": 16, "augment": []},
        "optimizer": {"name": "adam", "lr": 0.003, "weight_decay": 0.0}}))
    run = train(load_config(str(recipe)), str(tmp_path / "runs" / "a"), verbose=0)
    results = tmp_path / "results"
    results.mkdir()
    (results / "tiny.json").write_text(json.dumps({
        "date": "2026-11-24T00:00:00+00:00", "machine": {"cpus": 2, "processor": "x86_64"},
        "command": "bench/tiny.py", "lenet": cards.run_result(run, config_file=str(recipe))}))
    card = cards.model_card("lenet5", results_dir=str(results), configs_dir=str(recipe.parent))
    (result,) = card["results"]
    assert (result["config"], result["seed"], result["epochs"]) == (str(recipe), 3, 2)
    assert card["recipes_without_result"] == []
    assert cards.format_accuracy(result["value"]) in cards.card_markdown(card)

    again = train(load_config(result["config"], overrides=[f"seed={result['seed']}", f"epochs={result['epochs']}"]),
                  str(tmp_path / "runs" / "b"), verbose=0)
    figures = []
    for path in (run, again):
        capsys.readouterr()
        assert main(["evaluate", path]) == 0
        figures.append(json.loads(capsys.readouterr().out)["accuracy"])
    assert abs(figures[0] - result["value"]) * 100 <= 0.3, "evaluate disagrees with the run's own summary"
    assert abs(figures[1] - result["value"]) * 100 <= 0.3, f"the recipe did not reproduce: {figures}"


def test_the_packaged_snapshot_is_the_checkouts_results():
    """An installed wheel has no bench/results: its cards read the snapshot, which must equal what the checkout's
    result files give (regenerate: python -m kerazoo.applications.cards --snapshot)."""
    with open(cards.SNAPSHOT_PATH, encoding="utf-8") as f:
        snapshot = json.load(f)
    assert snapshot == json.loads(json.dumps(cards.measured_results(cards.RESULTS_DIR)))


def test_without_bench_results_the_card_reads_the_snapshot(monkeypatch, tmp_path):
    checkout = cards.card_text(cards.model_card("resnet20"))
    monkeypatch.setattr(cards, "RESULTS_DIR", str(tmp_path / "no_bench"))
    assert cards.card_text(cards.model_card("resnet20")) == checkout
