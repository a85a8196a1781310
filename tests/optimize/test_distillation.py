import json
import os

import keras
import numpy as np
import pytest

from kerazoo.losses import SoftTargetLoss, distillation_loss, soft_target_loss
from kerazoo.optimize.distill import Distiller, distill
from optimize_helpers import tiny_cnn


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_loss_against_hand_computation():
    teacher = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    student = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]], np.float32)
    labels = np.array([0, 1])
    T, alpha = 2.0, 0.7
    p, q = _softmax(teacher / T), _softmax(student / T)
    soft = T**2 * np.sum(p * np.log(p / q), -1)
    hard = -np.log(_softmax(student)[np.arange(2), labels])
    got = keras.ops.convert_to_numpy(distillation_loss(labels, student, teacher, temperature=T, alpha=alpha))
    np.testing.assert_allclose(got, alpha * soft + (1 - alpha) * hard, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(soft_target_loss(teacher, teacher, T)), 0.0, atol=1e-6)
    loss = SoftTargetLoss(temperature=T)
    assert float(loss(teacher, student)) == pytest.approx(soft.mean(), rel=1e-5)
    assert SoftTargetLoss.from_config(loss.get_config()).get_config()["temperature"] == T


def test_distiller_trains_the_student_only(tiny_data):
    images, labels, ds = tiny_data
    teacher, student = tiny_cnn("teacher"), tiny_cnn("student")
    teacher_before = [w.copy() for w in teacher.get_weights()]
    history = distill(student, teacher, ds.repeat(3), epochs=3, temperature=2.0, alpha=0.5, lr=3e-3)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(np.array_equal(a, b) for a, b in zip(teacher_before, teacher.get_weights()))


def test_bad_options():
    with pytest.raises(ValueError, match="temperature"):
        Distiller(tiny_cnn("s"), tiny_cnn("t"), temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss([0], [[0.0, 1.0]], [[0.0, 1.0]], alpha=2.0)
    with pytest.raises(ValueError, match="same classes"):
        Distiller(tiny_cnn("s", classes=3), tiny_cnn("t"))


def test_soft_targets_give_the_same_loss_as_their_integer_labels():
    teacher = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    student = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]], np.float32)
    labels = np.array([0, 2])
    sparse = distillation_loss(labels, student, teacher, temperature=2.0, alpha=0.3)
    soft = distillation_loss(np.eye(3, dtype=np.float32)[labels], student, teacher, temperature=2.0, alpha=0.3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(soft), keras.ops.convert_to_numpy(sparse), rtol=1e-6)


def test_train_distills_from_a_teacher_run(trained_run, idx_data_dir, tmp_path):
    """`kerazoo train lenet5 --teacher RUN`: the run's checkpoint is the plain student, trained on the teacher."""
    import yaml

    from kerazoo.training import load_config, load_run_model, train

    config = load_config(overrides=[
        "model.name=lenet5", "jit_compile=false", f"data.data_dir={idx_data_dir}", "data.train_split=train[:80]",
        "data.val_split=train[80:]", "data.batch_size=16", "data.augment=[]", "epochs=2", "optimizer.name=adam",
        "optimizer.lr=0.003", "optimizer.weight_decay=0", "strategy=default", f"distill.teacher={trained_run}",
        "distill.temperature=2.0"])
    run_dir = train(config, str(tmp_path / "student"), verbose=0)
    student = load_run_model(run_dir)
    assert student.output_shape == load_run_model(trained_run).output_shape
    assert "teacher" not in {layer.name for layer in student.layers}
    with open(os.path.join(run_dir, "config.yaml")) as f:
        assert yaml.safe_load(f)["distill"] == {"teacher": trained_run, "temperature": 2.0, "alpha": 0.9}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        losses = [json.loads(line)["loss"] for line in f]
    assert losses[-1] < losses[0], losses


def test_distillation_options_are_checked_with_the_config():
    from kerazoo.training import load_config

    with pytest.raises(ValueError, match="distill.*temperature"):
        load_config(overrides=["distill.teacher=runs/t", "distill.temperature=0"])
    with pytest.raises(ValueError, match="exclude each other"):
        load_config(overrides=["distill.teacher=runs/t", "adversarial.method=fgsm"])
