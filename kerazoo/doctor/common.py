"""What every doctor check shares: its result record, the options, and the context (model factory, data, loss)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass
class CheckResult:
    """One check's verdict: ``status`` (pass, warn or fail), a one-line ``summary`` with the numbers, the
    ``figures`` behind it, and ``meaning``: what a failure says about the model or the recipe."""

    name: str
    status: str
    summary: str
    meaning: str
    figures: dict = field(default_factory=dict)


@dataclass
class DoctorOptions:
    """Budgets and thresholds of the checks (defaults follow the CS231n "babysitting the learning process" notes)."""

    batch_size: int = 64
    """Examples in the statistics batch (initial loss, activations, gradients, update ratios)."""
    overfit_examples: int = 20
    overfit_steps: int = 200
    overfit_target: float = 0.95
    """Training accuracy the overfit check must reach on its small subset."""
    lr_range_steps: int = 60
    lr_range: tuple = (1e-6, 10.0)
    trial_steps: int = 20
    """Steps at the configured learning rate for the divergence check."""
    reg_strength: float = 1e-3
    """λ of the L2 penalty λ Σ W² added in the initial-loss check."""
    dead_fraction: float = 0.5
    """A ReLU layer with more than this fraction of channels never active is flagged."""


class Context:
    """The model under examination and its data.

    The model is built once; :meth:`model` and :meth:`trainer` hand it back reset to its initial weights (and, for
    the trainer, a fresh optimizer state), so checks never see each other's training and the train step is traced
    once. The trainer runs the configured optimizer at a constant learning rate with weight decay off (the
    checklist's "regularization off"; the initial-loss check adds its own L2 term).
    """

    def __init__(self, config, build: Callable[[], keras.Model], images, labels, num_classes: int,
                 options: DoctorOptions, out: str | None = None):
        self.config, self.images, self.labels = config, images, labels
        self.num_classes, self.options, self.out = num_classes, options, out
        self._model = build()
        self._initial = self._model.get_weights()
        self._compiled = False

    def loss_fn(self):
        from kerazoo.training.tasks import training_loss

        return training_loss(self.config)

    @property
    def configured_lr(self) -> float:
        """The configured learning rate after the linear batch-size scaling that ``train`` applies."""
        opt = self.config.optimizer
        return opt.lr * self.config.data.batch_size / opt.base_batch_size

    def model(self) -> keras.Model:
        """The model with its initial weights."""
        self._model.set_weights(self._initial)
        return self._model

    def trainer(self, lr: float | None = None) -> keras.Model:
        """The model, compiled with the configured optimizer (constant ``lr``, default the configured one) and
        reset to its initial weights and a zero optimizer state."""
        model = self.model()
        if not self._compiled:
            model.compile(optimizer=self._optimizer(), loss=self.loss_fn(),
                          metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], jit_compile=False)
            self._compiled = True
        for variable in model.optimizer.variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))
        model.optimizer.learning_rate = float(lr if lr is not None else self.configured_lr)
        return model

    def _optimizer(self) -> keras.optimizers.Optimizer:
        from kerazoo.training.run import make_optimizer

        config = dataclasses.replace(
            self.config,
            schedule=dataclasses.replace(self.config.schedule, name="constant", warmup_epochs=0.0),
            optimizer=dataclasses.replace(self.config.optimizer, weight_decay=0.0),
        )
        template = make_optimizer(config, steps_per_epoch=1)
        return type(template).from_config({**template.get_config(), "learning_rate": self.configured_lr})


def loss_and_gradients(model: keras.Model, loss_fn, images, labels):
    """Mean loss and the gradient of every trainable weight on one batch (training-mode forward pass)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = loss_fn(labels, logits)
    grads = tape.gradient(loss, model.trainable_weights)
    return float(loss), [None if g is None else np.asarray(g) for g in grads]


def kernels(model: keras.Model) -> list:
    """The weight matrices and filters (rank ≥ 2) of a model: what the per-layer statistics are about."""
    return [w for w in model.trainable_weights if len(w.shape) >= 2]


def norm(array) -> float:
    return float(np.sqrt(np.sum(np.square(np.asarray(array, dtype="float64")))))


def is_finite(value) -> bool:
    return bool(np.all(np.isfinite(value))) if not isinstance(value, float) else math.isfinite(value)


def fmt(value: float) -> str:
    return f"{value:.3g}"
