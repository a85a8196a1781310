"""Classification losses against NumPy references (values and gradients) and the course-notes example."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerazoo import losses


def _numpy_hinge(scores, labels, margin, power=1):
    correct = scores[np.arange(len(labels)), labels][:, None]
    margins = np.maximum(0, scores - correct + margin)
    margins[np.arange(len(labels)), labels] = 0
    value = (margins ** power).sum(axis=1)
    grad = power * margins ** (power - 1) * (margins > 0)
    grad[np.arange(len(labels)), labels] = -grad.sum(axis=1)
    return value, grad


def _numpy_one_vs_all(scores, labels, margin):
    signs = -np.ones_like(scores)
    signs[np.arange(len(labels)), labels] = 1
    active = margin - signs * scores > 0
    return np.maximum(0, margin - signs * scores).sum(axis=1), -signs * active


def _numpy_softmax_xent(scores, labels, smoothing):
    targets = np.eye(scores.shape[1])[labels] * (1 - smoothing) + smoothing / scores.shape[1]
    z = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -(targets * np.log(probs)).sum(axis=1), probs - targets


def _value_and_grad(fn, labels, scores, **options):
    scores = tf.constant(scores)
    with tf.GradientTape() as tape:
        tape.watch(scores)
        values = fn(labels, scores, **options)
        total = tf.reduce_sum(values)
    return values.numpy(), tape.gradient(total, scores).numpy()


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 5)) * 2, rng.integers(0, 5, size=16)


@pytest.mark.parametrize("margin", [1.0, 2.5])
def test_hinges_match_numpy(batch, margin):
    scores, labels = batch
    for fn, power in ((losses.multiclass_hinge, 1), (losses.squared_hinge, 2)):
        value, grad = _value_and_grad(fn, labels, scores, margin=margin)
        ref_value, ref_grad = _numpy_hinge(scores, labels, margin, power)
        np.testing.assert_allclose(value, ref_value, rtol=1e-6)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-9)
    value, grad = _value_and_grad(losses.one_vs_all_hinge, labels, scores, margin=margin)
    ref_value, ref_grad = _numpy_one_vs_all(scores, labels, margin)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-9)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_matches_numpy(batch, smoothing):
    scores, labels = batch
    value, grad = _value_and_grad(losses.softmax_cross_entropy, labels, scores, label_smoothing=smoothing)
    ref_value, ref_grad = _numpy_softmax_xent(scores, labels, smoothing)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-9)
    keras_value = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)(
        np.eye(5)[labels], scores)
    np.testing.assert_allclose(losses.SoftmaxCrossEntropy(smoothing)(labels, scores), keras_value, rtol=1e-5)


def test_course_notes_hinge_example():
    # CS231n "Linear classification" notes: scores [3.2, 5.1, -1.7], true class 0 (cat), Δ = 1 → 2.9.
    scores = np.array([[3.2, 5.1, -1.7]])
    np.testing.assert_allclose(losses.multiclass_hinge(np.array([0]), scores), [2.9], rtol=1e-6)
    np.testing.assert_allclose(float(losses.MulticlassHinge(margin=1.0)(np.array([0]), scores)), 2.9, rtol=1e-6)


def test_softmax_cross_entropy_is_stable_for_huge_scores():
    scores = np.array([[1000.0, 0.0, -1000.0]], dtype="float32")
    value = losses.softmax_cross_entropy(np.array([1]), scores)
    np.testing.assert_allclose(value, [1000.0], rtol=1e-6)


def test_label_shapes_one_hot_and_column_agree(batch):
    scores, labels = batch
    for fn in (losses.multiclass_hinge, losses.one_vs_all_hinge, losses.softmax_cross_entropy):
        expected = fn(labels, scores)
        np.testing.assert_allclose(fn(labels[:, None], scores), expected, rtol=1e-6)
        np.testing.assert_allclose(fn(np.eye(5)[labels], scores), expected, rtol=1e-6)


@pytest.mark.parametrize("cls,options", [
    (losses.MulticlassHinge, {"margin": 2.0}), (losses.SquaredHinge, {"margin": 0.5}),
    (losses.OneVsAllHinge, {"margin": 1.5}), (losses.SoftmaxCrossEntropy, {"label_smoothing": 0.2}),
])
def test_loss_classes_serialize(batch, cls, options):
    scores, labels = batch
    loss = cls(**options)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is cls and restored.options == loss.options
    np.testing.assert_allclose(restored(labels, scores), loss(labels, scores), rtol=1e-6)


def test_model_with_hinge_loss_saves_and_reloads(tmp_path, batch):
    scores, labels = batch
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(5, name="scores")], name="linear")
    model.compile(optimizer="sgd", loss=losses.MulticlassHinge(margin=2.0))
    before = model.evaluate(scores, labels, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert restored.loss.options == {"margin": 2.0}
    np.testing.assert_allclose(restored.evaluate(scores, labels, verbose=0), before, rtol=1e-6)


def test_bad_options_are_clear():
    with pytest.raises(ValueError, match="margin"):
        losses.MulticlassHinge(margin=0)
    with pytest.raises(ValueError, match=r"label_smoothing.*\[0, 1\)"):
        losses.SoftmaxCrossEntropy(label_smoothing=1.5)
