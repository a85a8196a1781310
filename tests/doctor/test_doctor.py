"""`kerazoo doctor` flags a zero initialization, a too-high learning rate and dead ReLUs, and passes healthy models."""

import json

import keras
import numpy as np
import pytest

from kerazoo.doctor import CHECKS, DoctorOptions, diagnose

FAST = DoctorOptions(batch_size=20, overfit_steps=40, lr_range_steps=20, trial_steps=8)


def small_cnn(zero=False, bias=0.0):
    """Raw 8x8 pixels → conv-relu → conv-relu → flatten → logits; ``zero`` zeroes every weight, ``bias`` shifts the
    ReLUs' inputs."""
    init = "zeros" if zero else "he_normal"
    bias_init = keras.initializers.Constant(bias)
    inputs = keras.Input((8, 8, 1), name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init,
                            bias_initializer=bias_init, name="conv1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init,
                            bias_initializer=bias_init, name="conv2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(10, kernel_initializer="zeros" if zero else "glorot_uniform", name="logits")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def run(build, *overrides, checks=None, **kw):
    return diagnose(dataset="digits", build=build, overrides=["optimizer.name=adam", "optimizer.lr=0.01",
                                                              *overrides], checks=checks, options=FAST, **kw)


def test_healthy_small_cnn_passes_every_check(tmp_path):
    report = run(small_cnn, out=str(tmp_path))
    assert [r.name for r in report.results] == list(CHECKS)
    assert report.passed, report.table()
    assert report["overfit_small_subset"].figures["train_accuracy"] >= 0.95
    assert 0.5 < report["initial_loss"].figures["loss"] / report["initial_loss"].figures["ln_C"] < 1.5
    assert report["initial_loss"].figures["loss_with_l2"] > report["initial_loss"].figures["loss"]
    assert (tmp_path / "lr_range.png").stat().st_size > 0
    saved = json.loads((tmp_path / "doctor.json").read_text())
    assert saved["passed"] and len(saved["checks"]) == len(CHECKS)


def test_zero_initialization_is_flagged():
    report = run(lambda: small_cnn(zero=True), checks=["initial_loss", "gradients", "update_ratio",
                                                       "overfit_small_subset"])
    assert not report.passed
    assert report["initial_loss"].status == "fail" and "weights are zero" in report["initial_loss"].summary
    assert report["gradients"].status == "fail" and report["gradients"].figures["zero_gradient_layers"]
    assert report["update_ratio"].status == "fail"
    assert report["overfit_small_subset"].status == "fail"
    assert "what it means" in report.table()


def test_too_high_learning_rate_diverges():
    report = run(small_cnn, "optimizer.name=sgd", "optimizer.lr=500", checks=["divergence", "update_ratio"])
    assert report["divergence"].status == "fail", report.table()
    assert report["update_ratio"].status == "fail" and report["update_ratio"].figures["median"] > 0.1
    healthy = run(small_cnn, checks=["divergence"])
    assert healthy["divergence"].status == "pass"


def test_dead_relus_are_flagged():
    report = run(lambda: small_cnn(bias=-50.0), checks=["activations", "overfit_small_subset"])
    assert report["activations"].status == "fail"
    assert report["activations"].figures["layers"]["conv1"]["dead_fraction"] == 1.0
    assert report["overfit_small_subset"].status == "fail"


def test_lr_range_fails_a_network_whose_relus_are_all_dead():
    # Only the logits' bias learns: the loss falls to the label frequencies' cross-entropy and never below it.
    report = run(lambda: small_cnn(bias=-50.0), checks=["lr_range"])
    result = report["lr_range"]
    assert result.status == "fail" and "label frequencies" in result.summary, report.table()
    assert result.figures["suggested_lr"] is None
    healthy = run(small_cnn, checks=["lr_range"])["lr_range"]
    assert healthy.status == "pass" and healthy.figures["min_loss"] < 0.95 * healthy.figures["label_frequency_loss"]


def test_lr_range_blow_up_is_a_rise_above_the_start_not_a_near_zero_wobble():
    from kerazoo.doctor.lr_range import blew_up, label_frequency_loss

    assert not blew_up(0.009, [2.3, 1.0, 0.01, 0.002])  # 4.5x the best, but far below the start
    assert blew_up(9.5, [2.3, 1.0, 0.01, 0.002]) and blew_up(float("nan"), [2.3])
    assert not blew_up(2.0, [2.3, 1.0]) and blew_up(4.1, [2.3, 1.0])
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    labels = np.array([0, 0, 0, 1])  # frequencies 3/4, 1/4: entropy 0.5623 nats
    assert label_frequency_loss(xent, labels, 3) == pytest.approx(0.5623, abs=1e-4)


def test_unknown_check_suggests_names():
    with pytest.raises(ValueError, match="Did you mean: lr_range"):
        run(small_cnn, checks=["lr_rang"])


@pytest.mark.slow
def test_healthy_resnet20_passes():
    report = diagnose("resnet20", dataset="digits", options=FAST)
    assert report.passed, report.table()


def test_cli_prints_verdicts_and_exit_code(tmp_path, capsys, idx_data_dir):
    from kerazoo.cli import main

    code = main(["doctor", "lenet5", "--dataset", "fashion_mnist", "--data-dir", idx_data_dir, "--checks",
                 "nan_guard,initial_loss", "--batch-size", "16", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0 and "[PASS] nan_guard" in printed and "[PASS] initial_loss" in printed
    assert (tmp_path / "doctor.json").exists()
    assert main(["doctor", "lenet5", "--dataset", "fashion_mnist", "--data-dir", idx_data_dir,
                 "--checks", "nan_guard,bogus"]) == 2
    assert "Unknown check 'bogus'" in capsys.readouterr().err
