"""Sample quality: the Fréchet distance between feature statistics of generated and real images (Heusel et al., GANs
Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium, NeurIPS 2017, "FID").

The features are those of a Fashion-MNIST classifier trained by kerazoo (a run directory), taken at the input of
its ``predictions`` layer: the usual practice for MNIST-like data, where an ImageNet Inception network does not apply.
The figure only means something next to its floor: the distance between the real test set and the same reference
(the training set) measures how far two samples of *real* images already are.

    quality = sample_quality(images, "runs/lenet")   # {"frechet_distance": ..., "floor": ..., ...}
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["frechet_distance", "feature_statistics", "classifier_features", "sample_quality"]


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of an (n, d) feature array."""
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"Invalid features: expected an (n, d) array with n >= 2. Received: shape={features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def frechet_distance(features_a, features_b) -> float:
    """d² = |mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^½): the Fréchet (2-Wasserstein) distance between the
    Gaussians fitted to two (n, d) feature sets."""
    from scipy import linalg

    mu_a, cov_a = feature_statistics(features_a)
    mu_b, cov_b = feature_statistics(features_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"Feature sizes differ: {mu_a.shape[0]} and {mu_b.shape[0]}.")
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # a singular product: regularize, as in the reference implementation
        eps = 1e-6 * np.eye(len(mu_a))
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * np.real(root)))


def classifier_features(run_dir: str) -> keras.Model:
    """Raw pixels → the features feeding the ``predictions`` layer of a classifier run."""
    from kerazoo.applications import get_entry
    from kerazoo.training.run import load_run_config
    from kerazoo.runs import RunDir

    config = load_run_config(run_dir)
    task = get_entry(config.model.name).task
    if task != "classification":
        raise ValueError(f"Frechet distance needs the features of a classifier run; {run_dir} is a {task} run "
                         f"(model {config.model.name!r}).")
    model = RunDir(run_dir).load_model()
    return keras.Model(model.inputs, model.get_layer("predictions").input, name="frechet_features")


def sample_quality(images, classifier_run: str, *, dataset: str = "fashion_mnist", data_dir=None,
                   reference_split: str = "train", floor_split: str = "test", limit: int | None = None) -> dict:
    """Fréchet distance of ``images`` (raw 0-255, (n, H, W, C)) to the reference split, with the floor: the real
    ``floor_split`` images' own distance to the same reference.

    Args:
        images: generated images.
        classifier_run: run directory of a classifier trained by kerazoo on ``dataset``.
        limit: use at most this many reference and floor images (default: all).
    """
    from kerazoo import datasets

    extractor = classifier_features(classifier_run)
    images = np.asarray(images, dtype="float32")
    if tuple(images.shape[1:]) != tuple(extractor.input_shape[1:]):
        raise ValueError(f"Invalid images: expected shape (n, {', '.join(map(str, extractor.input_shape[1:]))}) "
                         f"for the classifier run. Received: images.shape={images.shape}")

    def features(x):
        return extractor.predict(np.asarray(x, dtype="float32")[:limit], batch_size=256, verbose=0)

    reference = features(datasets.load_arrays(dataset, reference_split, data_dir=data_dir)[0])
    real = features(datasets.load_arrays(dataset, floor_split, data_dir=data_dir)[0])
    return {
        "frechet_distance": frechet_distance(features(images), reference),
        "floor": frechet_distance(real, reference),
        "generated_examples": int(len(images)),
        "reference_examples": int(len(reference)),
        "floor_examples": int(len(real)),
    }
