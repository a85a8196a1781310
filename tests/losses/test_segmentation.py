"""Segmentation losses against NumPy references, and their serialization."""

import keras
import numpy as np
import pytest

from kerazoo import losses


def _reference(masks, logits, smooth, kind):
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    targets = np.eye(logits.shape[-1])[masks]
    both = (probs * targets).sum((1, 2))
    p, t = probs.sum((1, 2)), targets.sum((1, 2))
    if kind == "dice":
        return 1 - ((2 * both + smooth) / (p + t + smooth)).mean(-1)
    return 1 - ((both + smooth) / (p + t - both + smooth)).mean(-1)


@pytest.mark.parametrize("kind", ["dice", "soft_iou"])
def test_matches_numpy(kind):
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 3, (2, 4, 5))
    logits = rng.normal(size=(2, 4, 5, 3)).astype("float32")
    fn = losses.dice_loss if kind == "dice" else losses.soft_iou_loss
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fn(masks, logits, smooth=0.5)),
                               _reference(masks, logits, 0.5, kind), rtol=1e-5)


def test_perfect_prediction_gives_near_zero_and_cross_entropy_adds_up():
    masks = np.array([[[0, 1], [2, 2]]])
    logits = 50.0 * np.eye(3, dtype="float32")[masks]
    assert float(losses.DiceLoss(smooth=1e-6)(masks, logits)) < 1e-5
    assert float(losses.SoftIoULoss(smooth=1e-6)(masks, logits)) < 1e-5
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 2, 2, 3)).astype("float32")
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(masks, logits)
    expected = float(xent) + 2.0 * float(losses.DiceLoss()(masks, logits))
    np.testing.assert_allclose(float(losses.CrossEntropyDice(dice_weight=2.0)(masks, logits)), expected, rtol=1e-5)


def test_serializes_and_rejects_bad_options():
    loss = losses.CrossEntropyDice(dice_weight=0.5)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, losses.CrossEntropyDice) and again.options["dice_weight"] == 0.5
    assert isinstance(losses.get("DiceLoss"), losses.DiceLoss)
    with pytest.raises(ValueError, match="smooth"):
        losses.DiceLoss(smooth=0)
