"""Linear and kNN classifiers on a small learnable dataset; kNN's cross-validated choice; feature retrieval."""

import keras
import numpy as np
import pytest

from kerazoo import datasets
from kerazoo.classic import KNNClassifier, LinearClassifier, model_features, retrieve


@pytest.fixture(scope="module")
def bars(idx_data_dir):
    train = datasets.load_arrays("fashion_mnist", "train", data_dir=idx_data_dir)
    test = datasets.load_arrays("fashion_mnist", "test", data_dir=idx_data_dir)
    return train, test


@pytest.mark.parametrize("loss", ["multiclass_hinge", "softmax_cross_entropy"])
def test_linear_classifier_learns_bars(bars, loss):
    (x, y), (xt, yt) = bars
    clf = LinearClassifier(loss, epochs=4, batch_size=8, lr=0.01).fit(x, y)
    assert clf.score(xt, yt) > 0.8
    assert clf.templates.shape == (10, 28 * 28)


def test_linear_classifier_errors():
    with pytest.raises(ValueError, match="not fitted"):
        LinearClassifier().predict(np.zeros((1, 28, 28, 1)))
    with pytest.raises(ValueError, match="reg"):
        LinearClassifier(reg=-1)


def test_knn_picks_k_and_metric_by_cross_validation(bars):
    (x, y), (xt, yt) = bars
    knn = KNNClassifier(ks=(1, 3, 50), metrics=("l1", "l2"), folds=3).fit(x, y)
    assert len(knn.cv_results) == 6
    best = max(knn.cv_results, key=lambda r: r["mean"])
    assert knn.best["cv_accuracy"] == pytest.approx(best["mean"])
    assert knn.best["k"] != 50  # 50 neighbours of 64 images vote for the majority class
    assert knn.score(xt, yt) > 0.7
    with pytest.raises(ValueError, match="metrics"):
        KNNClassifier(metrics=("cosine",))


def test_model_features_and_retrieval(bars):
    (x, _), _ = bars
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(name="flat"), keras.layers.Dense(8, name="embed"),
        keras.layers.Dense(10, name="logits"),
    ], name="tiny")
    features = model_features(model, x[:20])
    assert features.shape == (20, 8)
    indices, distances = retrieve(features, features, k=3)
    np.testing.assert_array_equal(indices[:, 0], np.arange(20))  # each image's nearest neighbour is itself
    assert np.all(np.diff(distances, axis=1) >= 0)
    knn = KNNClassifier(ks=(1,), metrics=("l2",), folds=2, feature_fn=lambda im: model_features(model, im))
    assert knn.fit(x[:20], np.arange(20) % 2).predict(x[:4]).shape == (4,)
