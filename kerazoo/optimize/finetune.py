"""What every compression stage shares: a run's data, fine-tuning, accuracy, and the weights compression acts on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kerazoo import datasets


@dataclass
class RunData:
    """Where a run's data lives (from its config), so every stage trains and measures on the same splits."""

    dataset: str
    data_dir: str | None
    train_split: str
    val_split: str | None
    test_split: str
    batch_size: int = 128

    @classmethod
    def from_run(cls, run_dir: str, batch_size: int | None = None) -> "RunData":
        from kerazoo.training.run import load_run_config

        data = load_run_config(run_dir).data
        return cls(data.dataset, data.data_dir, data.train_split, data.val_split, data.test_split,
                   batch_size or data.batch_size)

    def train(self, seed: int = 0, limit: int | None = None):
        """The training split, shuffled, not augmented (fine-tuning recovers accuracy; it does not regularize)."""
        return datasets.load(self.dataset, self.train_split, data_dir=self.data_dir, batch_size=self.batch_size,
                             shuffle=True, augment=[], seed=seed, limit=limit)

    def arrays(self, split: str, limit: int | None = None):
        """(images, labels) of a split as NumPy arrays."""
        return datasets.split_arrays(self.dataset, split, data_dir=self.data_dir, limit=limit)

    def representative(self, count: int = 256) -> np.ndarray:
        """Raw training images for int8 calibration (never the test split)."""
        return self.arrays(self.train_split, limit=count)[0]


def fine_tune(model, train_ds, *, epochs: int, lr: float = 1e-4, callbacks=(), steps_per_epoch: int | None = None,
              verbose: int = 0):
    """Fine-tune a raw-pixel → logits model (tf_keras or Keras 3) with Adam and cross-entropy; returns the history."""
    keras_module = _framework(model)
    model.compile(
        optimizer=keras_module.optimizers.Adam(lr),
        loss=keras_module.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=list(callbacks),
                     verbose=verbose, shuffle=False)  # the pipeline shuffles


def without_optimizer(model):
    """A fresh, uncompiled Keras 3 copy of ``model`` (same weights): what to save when only the weights matter, since
    a compiled model's ``.keras`` file also stores the optimizer's slots (2-3x the size with Adam)."""
    copy = type(model).from_config(model.get_config())  # clone_model would copy the compile state too
    copy.set_weights(model.get_weights())
    return copy


def _framework(model):
    import keras

    if isinstance(model, keras.Model):
        return keras
    import tf_keras

    return tf_keras


def accuracy(predict, images: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``predict`` (a model or a predictor: raw pixels → logits)."""
    batches = range(0, len(images), batch_size)
    logits = np.concatenate([np.asarray(predict(images[i : i + batch_size])) for i in batches])
    return float(np.mean(np.argmax(logits, -1) == labels))


def kernel_of(layer):
    """The weight that compression acts on (Dense/Conv kernels, depthwise kernels), or None for other layers."""
    for attribute in ("kernel", "depthwise_kernel"):
        weight = getattr(layer, attribute, None)
        if weight is not None and len(weight.shape) >= 2:
            return weight
    return None


def layer_sparsity(model) -> dict[str, float]:
    """Fraction of exact zeros in each layer's kernel, by layer name (either framework, stripped models)."""
    result = {}
    for layer in model.layers:
        kernel = kernel_of(layer)
        if kernel is not None:
            values = np.asarray(kernel)
            result[layer.name] = float(np.mean(values == 0))
    return result


def overall_sparsity(model) -> float:
    """Fraction of zeros over all kernels together."""
    zeros = total = 0
    for layer in model.layers:
        kernel = kernel_of(layer)
        if kernel is not None:
            values = np.asarray(kernel)
            zeros += int(np.sum(values == 0))
            total += values.size
    return zeros / total if total else 0.0
