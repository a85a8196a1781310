import keras
import numpy as np
import pytest

from adversarial_helpers import linear_model, random_linear
from kerazoo.adversarial.transfer import jacobian_augmentation, train_substitute, transfer_attack


@pytest.fixture(scope="module")
def oracle():
    # logits = 20 * (x / 127.5 - 1) @ W: centred on raw pixels, so every class has a fair share of the cube
    weights, _ = random_linear(d=8, classes=3, seed=21)
    return linear_model(20 * weights / 127.5, -20 * weights.sum(0), name="oracle")


def images(count, seed):
    return np.random.default_rng(seed).uniform(0, 255, (count, 8)).astype("float32")


def small_substitute(name):
    inputs = keras.Input((8,), name="images")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name=f"{name}_scale")(inputs)
    x = keras.layers.Dense(16, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name=f"{name}_logits")(x), name=name)


def test_examples_crafted_on_the_target_itself_transfer_fully(oracle):
    x = images(32, 0)
    y = np.argmax(keras.ops.convert_to_numpy(oracle(x)), -1)
    figures = transfer_attack(oracle, oracle, x, y, attack="pgd", eps=0.2, steps=5)
    assert figures["source_clean_accuracy"] == figures["target_clean_accuracy"] == 1.0
    assert figures["source_adversarial_accuracy"] == figures["target_adversarial_accuracy"] < 0.5
    assert figures["transfer_rate"] == 1.0 and figures["transfer_candidates"] > 16


def test_jacobian_augmentation_steps_along_the_sign_of_the_oracle_class_logit(oracle):
    weights = oracle.get_layer("oracle_dense").get_weights()[0]
    x = np.full((3, 8), 128.0, "float32")
    labels = np.array([0, 1, 2])
    moved = jacobian_augmentation(oracle, x, labels, step=0.1)
    np.testing.assert_allclose(moved, 128.0 + 25.5 * np.sign(weights[:, labels].T), atol=1e-4)


def test_substitute_learns_the_oracle_from_its_answers(oracle):
    substitute, history = train_substitute(oracle, images(40, 1), small_substitute("substitute"), rounds=3, epochs=8,
                                           learning_rate=0.01)
    assert [h["set_size"] for h in history] == [40, 80, 160]
    assert [h["oracle_queries"] for h in history] == [40, 120, 280]
    held_out = images(200, 2)
    agreement = np.mean(np.argmax(keras.ops.convert_to_numpy(substitute(held_out)), -1)
                        == np.argmax(keras.ops.convert_to_numpy(oracle(held_out)), -1))
    assert agreement > 0.7, agreement
    y = np.argmax(keras.ops.convert_to_numpy(oracle(held_out)), -1)
    figures = transfer_attack(substitute, oracle, held_out, y, attack="fgsm", eps=0.2)
    assert figures["target_adversarial_accuracy"] < 0.7, figures


def test_bad_substitute_settings():
    with pytest.raises(ValueError, match="Invalid rounds"):
        train_substitute(lambda x: x, images(2, 0), small_substitute("bad"), rounds=0)
    with pytest.raises(ValueError, match="Invalid step"):
        train_substitute(lambda x: x, images(2, 0), small_substitute("bad2"), step=2)


@pytest.mark.slow
def test_cli_attack_trains_a_substitute_against_a_run(trained_run, tmp_path, capsys):
    import json

    from kerazoo.cli import main

    out = tmp_path / "transfer.json"
    code = main(["attack", trained_run, "--seed-examples", "8", "--rounds", "2", "--epochs", "1", "--limit", "8",
                 "--steps", "2", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["target_format"] == "keras" and report["examples"] == 8
    assert [r["set_size"] for r in report["source"]["rounds"]] == [8, 16]
    assert 0 <= report["transfer_rate"] <= 1 and json.loads(capsys.readouterr().out) == report
    code = main(["attack", str(tmp_path / "missing.onnx")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_cli_attack_with_a_source_attacks_limit_images(trained_run, tmp_path, capsys):
    import json

    from kerazoo.cli import main

    out = tmp_path / "transfer.json"
    code = main(["attack", trained_run, "--source", trained_run, "--limit", "5", "--attack", "fgsm",
                 "--seed-examples", "150", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["examples"] == 5 and report["source"] == {"model": trained_run}
    # the source is the target: every example that fools it fools the target
    assert report["transfer_rate"] == 1.0 or report["transfer_candidates"] == 0
