"""A linear classifier on raw pixels, f(x) = Wx + b, trained with the SVM or softmax loss (the CS231n "linear
classification" lecture). Pixels are centred by the training mean image and scaled to roughly [-1, 1].
"""

from __future__ import annotations

import keras
import numpy as np

from kerazoo import losses


class LinearClassifier:
    """Multiclass linear classifier (SVM or softmax) with an L2 penalty, trained by minibatch SGD.

    Args:
        loss: a classification loss name from ``kerazoo.losses`` (``multiclass_hinge``, ``squared_hinge``,
            ``one_vs_all_hinge`` or ``softmax_cross_entropy``).
        reg: L2 strength λ of the penalty λ Σ W².
        lr: SGD learning rate (momentum 0.9).
        epochs: passes over the training set.
        batch_size: examples per step.
        seed: seed of the initial weights and the shuffling.
    """

    def __init__(self, loss: str = "multiclass_hinge", *, reg: float = 1e-4, lr: float = 0.01, epochs: int = 10,
                 batch_size: int = 256, seed: int = 0):
        if reg < 0:
            raise ValueError(f"Invalid reg: expected a value >= 0. Received: reg={reg!r}")
        self.loss, self.reg, self.lr, self.epochs, self.batch_size, self.seed = loss, reg, lr, epochs, batch_size, seed
        self.model = None
        self.mean_image = None

    def _features(self, images) -> np.ndarray:
        flat = np.asarray(images, dtype="float32").reshape(len(images), -1)
        return (flat - self.mean_image) / 128.0

    def fit(self, images, labels) -> "LinearClassifier":
        labels = np.asarray(labels)
        self.mean_image = np.asarray(images, dtype="float32").reshape(len(images), -1).mean(axis=0)
        features = self._features(images)
        keras.utils.set_random_seed(self.seed)
        inputs = keras.Input((features.shape[1],), name="pixels")
        scores = keras.layers.Dense(
            int(labels.max()) + 1, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3),
            kernel_regularizer=losses.regularizer("l2", self.reg), name="scores",
        )(inputs)
        self.model = keras.Model(inputs, scores, name=f"linear_{self.loss}")
        self.model.compile(optimizer=keras.optimizers.SGD(self.lr, momentum=0.9), loss=losses.get(self.loss))
        self.model.fit(features, labels, epochs=self.epochs, batch_size=self.batch_size, verbose=0, shuffle=True)
        return self

    def scores(self, images) -> np.ndarray:
        if self.model is None:
            raise ValueError("LinearClassifier is not fitted yet: call fit(images, labels) first.")
        return self.model.predict(self._features(images), batch_size=1024, verbose=0)

    def predict(self, images) -> np.ndarray:
        return self.scores(images).argmax(axis=1)

    def score(self, images, labels) -> float:
        """Accuracy on (images, labels)."""
        return float((self.predict(images) == np.asarray(labels)).mean())

    @property
    def templates(self) -> np.ndarray:
        """W as one row per class: reshaped to the image shape, the "templates" of the lecture's figure."""
        return keras.ops.convert_to_numpy(self.model.get_layer("scores").kernel).T
