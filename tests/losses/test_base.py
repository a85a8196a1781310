"""``kerazoo.losses.get``: kerazoo and Keras losses by name, config or class; clear errors."""

import keras
import numpy as np
import pytest

from kerazoo import losses


def test_get_resolves_kerazoo_names_and_options():
    assert isinstance(losses.get("MulticlassHinge"), losses.MulticlassHinge)
    loss = losses.get("multiclass_hinge", margin=3.0)
    assert isinstance(loss, losses.MulticlassHinge) and loss.options == {"margin": 3.0}
    assert isinstance(losses.get("softmax_cross_entropy"), losses.SoftmaxCrossEntropy)
    assert losses.get("SoftmaxCrossEntropy", label_smoothing=0.1).options["label_smoothing"] == 0.1


def test_get_resolves_keras_names_configs_and_instances():
    assert isinstance(losses.get("mean_squared_error"), keras.losses.MeanSquaredError)
    assert isinstance(losses.get("mse"), keras.losses.MeanSquaredError)
    sparse = losses.get("sparse_categorical_crossentropy", from_logits=True)
    assert isinstance(sparse, keras.losses.SparseCategoricalCrossentropy)
    config = keras.saving.serialize_keras_object(losses.SquaredHinge(margin=0.5))
    assert losses.get(config).options == {"margin": 0.5}
    instance = losses.OneVsAllHinge()
    assert losses.get(instance) is instance


def test_get_errors_name_close_matches_and_bad_options():
    with pytest.raises(ValueError, match="Did you mean: multiclass_hinge"):
        losses.get("multiclass_hinje")
    with pytest.raises(ValueError, match="Allowed: margin"):
        losses.get("MulticlassHinge", smoothing=0.1)
    with pytest.raises(ValueError, match="Invalid loss"):
        losses.get(3)


def test_elastic_net_regularizer_matches_numpy_and_serializes():
    w = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    penalty = losses.ElasticNet(strength=0.1, l1_ratio=0.3)
    expected = 0.1 * (0.3 * np.abs(w).sum() + 0.5 * 0.7 * (w ** 2).sum())
    np.testing.assert_allclose(float(penalty(w)), expected, rtol=1e-5)
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(penalty))
    assert (restored.strength, restored.l1_ratio) == (0.1, 0.3)
    np.testing.assert_allclose(float(losses.regularizer("l1", 0.1)(w)), 0.1 * np.abs(w).sum(), rtol=1e-5)
    np.testing.assert_allclose(float(losses.regularizer("l2", 0.1)(w)), 0.1 * (w ** 2).sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="Did you mean: elastic_net"):
        losses.regularizer("elasticnet", 0.1)
    with pytest.raises(ValueError, match="l1_ratio"):
        losses.ElasticNet(0.1, l1_ratio=2)


def test_regularizer_adds_to_model_losses():
    layer = keras.layers.Dense(2, kernel_regularizer=losses.regularizer("elastic_net", 0.5, l1_ratio=1.0),
                               name="penalized")
    layer(np.ones((1, 3), "float32"))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose(float(sum(layer.losses)), 0.5 * np.abs(kernel).sum(), rtol=1e-5)
