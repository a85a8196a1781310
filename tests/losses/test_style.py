"""Style-transfer losses against NumPy references, and their Loss classes (reduction, serialization, by name)."""

import keras
import numpy as np
import pytest

from kerazoo import losses
from kerazoo.losses.style import (
    ContentLoss, StyleLoss, TotalVariation, content_loss, gram_matrix, style_loss, total_variation,
)


def numpy_gram(features):
    b, h, w, c = features.shape
    flat = features.reshape(b, h * w, c)
    return np.einsum("bpi,bpj->bij", flat, flat) / (h * w)


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    return rng.normal(size=(2, 5, 4, 3)).astype("float32"), rng.normal(size=(2, 5, 4, 3)).astype("float32")


def test_gram_matrix_matches_numpy(maps):
    features, _ = maps
    got = keras.ops.convert_to_numpy(gram_matrix(features))
    np.testing.assert_allclose(got, numpy_gram(features), rtol=1e-5, atol=1e-6)
    # by hand, one position: the outer product of its channel vector
    single = np.array([[[[1.0, 2.0, 3.0]]]], dtype="float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gram_matrix(single))[0], np.outer([1, 2, 3], [1, 2, 3]))


def test_style_loss_matches_numpy_from_features_and_from_gram(maps):
    style, generated = maps
    expected = ((numpy_gram(generated) - numpy_gram(style)) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(style_loss(style, generated)), expected, rtol=1e-5)
    shared_gram = numpy_gram(style)[0]  # (C, C): one target for the whole batch
    expected_shared = ((numpy_gram(generated) - shared_gram) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(style_loss(shared_gram, generated)), expected_shared, rtol=1e-5)


def test_content_loss_and_total_variation_match_numpy(maps):
    content, generated = maps
    np.testing.assert_allclose(keras.ops.convert_to_numpy(content_loss(content, generated)),
                               ((generated - content) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    for power in (1.0, 2.0):
        down = np.abs(np.diff(generated, axis=1)) ** power
        right = np.abs(np.diff(generated, axis=2)) ** power
        expected = down.mean(axis=(1, 2, 3)) + right.mean(axis=(1, 2, 3))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(total_variation(generated, power)), expected, rtol=1e-5)
    flat = np.full((1, 4, 4, 1), 7.0, dtype="float32")
    assert float(keras.ops.convert_to_numpy(total_variation(flat))[0]) == 0.0


def test_loss_classes_reduce_serialize_and_resolve_by_name(maps):
    style, generated = maps
    cases = [(StyleLoss(), style_loss(style, generated)), (ContentLoss(), content_loss(style, generated)),
             (TotalVariation(power=1.0), total_variation(generated, 1.0))]
    for loss, per_example in cases:
        np.testing.assert_allclose(float(loss(style, generated)), float(np.mean(per_example)), rtol=1e-5)
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(clone) is type(loss)
        np.testing.assert_allclose(float(clone(style, generated)), float(loss(style, generated)), rtol=1e-6)
    assert isinstance(losses.get("style_loss"), StyleLoss)
    assert losses.get("total_variation", power=1.0).options == {"power": 1.0}
    with pytest.raises(ValueError, match="power"):
        TotalVariation(power=0)
