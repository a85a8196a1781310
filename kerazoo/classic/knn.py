"""k-nearest-neighbour classification and image retrieval, on pixels or on a zoo model's features.

The lecture's first classifier: label a test image by the majority of its k closest training images under the L1
(Manhattan) or L2 (Euclidean) distance, with k and the distance chosen by k-fold cross-validation on the training
set. scikit-learn does the search (``KNeighborsClassifier`` inside ``GridSearchCV``); this module adds the pixel or
feature extraction and the retrieval helpers.
"""

from __future__ import annotations

import numpy as np

METRICS = {"l1": "manhattan", "l2": "euclidean"}


def _flatten(images) -> np.ndarray:
    return np.asarray(images, dtype="float32").reshape(len(images), -1)


class KNNClassifier:
    """kNN with k and the distance chosen by k-fold cross-validation.

    Args:
        ks: candidate numbers of neighbours.
        metrics: candidate distances, "l1" and/or "l2".
        folds: cross-validation folds.
        feature_fn: maps a batch of images to feature vectors (default: the flattened pixels); e.g.
            ``lambda x: model_features(model, x)`` for a zoo model's embedding.
    """

    def __init__(self, ks=(1, 3, 5, 7, 10), metrics=("l1", "l2"), *, folds: int = 5, feature_fn=None):
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"Invalid metrics: expected names from {sorted(METRICS)}. Received: metrics={list(metrics)!r}")
        if folds < 2:
            raise ValueError(f"Invalid folds: expected an integer >= 2. Received: folds={folds!r}")
        self.ks, self.metrics, self.folds = tuple(ks), tuple(metrics), folds
        self.feature_fn = feature_fn or _flatten
        self.search = None

    def fit(self, images, labels) -> "KNNClassifier":
        from sklearn.model_selection import GridSearchCV, KFold
        from sklearn.neighbors import KNeighborsClassifier

        grid = {"n_neighbors": list(self.ks), "metric": [METRICS[m] for m in self.metrics]}
        self.search = GridSearchCV(KNeighborsClassifier(), grid, cv=KFold(self.folds, shuffle=True, random_state=0))
        self.search.fit(self.feature_fn(images), np.asarray(labels))
        return self

    @property
    def best(self) -> dict:
        """The chosen k and distance, with their mean cross-validation accuracy."""
        params = self.search.best_params_
        metric = {v: k for k, v in METRICS.items()}[params["metric"]]
        return {"k": params["n_neighbors"], "metric": metric, "cv_accuracy": float(self.search.best_score_)}

    @property
    def cv_results(self) -> list[dict]:
        """Mean and std of the cross-validation accuracy of every (k, distance) tried (the lecture's k plot)."""
        results = self.search.cv_results_
        return [{"k": p["n_neighbors"], "metric": p["metric"], "mean": float(m), "std": float(s)}
                for p, m, s in zip(results["params"], results["mean_test_score"], results["std_test_score"])]

    def predict(self, images) -> np.ndarray:
        if self.search is None:
            raise ValueError("KNNClassifier is not fitted yet: call fit(images, labels) first.")
        return self.search.predict(self.feature_fn(images))

    def score(self, images, labels) -> float:
        return float((self.predict(images) == np.asarray(labels)).mean())


def model_features(model, images, *, batch_size: int = 256) -> np.ndarray:
    """A classifier's embedding of ``images``: the input of its last layer (the pooled features before the logits).

    ``model`` is a raw-pixel → logits model, e.g. ``kerazoo.training.load_run_model(run_dir)``.
    """
    import keras

    embedding = keras.Model(model.inputs, model.layers[-1].input, name=f"{model.name}_features")
    features = embedding.predict(np.asarray(images, dtype="float32"), batch_size=batch_size, verbose=0)
    return features.reshape(len(features), -1)


def retrieve(query_features, gallery_features, *, k: int = 5, metric: str = "l2") -> tuple[np.ndarray, np.ndarray]:
    """Image retrieval: indices and distances of the ``k`` gallery items nearest each query, closest first."""
    from sklearn.neighbors import NearestNeighbors

    if metric not in METRICS:
        raise ValueError(f"Invalid metric: expected one of {sorted(METRICS)}. Received: metric={metric!r}")
    index = NearestNeighbors(n_neighbors=k, metric=METRICS[metric]).fit(np.asarray(gallery_features))
    distances, indices = index.kneighbors(np.asarray(query_features))
    return indices, distances
