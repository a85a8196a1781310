"""Adversarial training as a wrapper that ``fit`` runs in place of the classifier.

``kerazoo.training`` calls :func:`adversarial_trainer` (registered with it as the "adversarial" trainer) when
``config.adversarial.method`` is not ``none``; the run's checkpoints still hold the plain classifier
(``AtomicCheckpoint(model=...)``), so export and evaluation need nothing new. Each training step crafts adversarial
images against the current weights (with the classifier in inference mode), then takes one optimizer step on the
weighted clean/adversarial batch:

    loss = (1 - mix) * L(x, y) + mix * L(x_adv, y)

- ``fgsm``: Goodfellow, Shlens and Szegedy, "Explaining and harnessing adversarial examples" (ICLR 2015) — FGSM
  examples, mix 0.5.
- ``pgd``: Madry et al., "Towards deep learning models resistant to adversarial attacks" (ICLR 2018) — PGD with a
  random start, ``steps`` steps of ``step_size``; set mix=1.0 for their adversarial-only objective.

The logged ``accuracy`` and ``loss`` are those of the weighted batch; validation runs on clean images.
"""

from __future__ import annotations

import functools

import keras
from keras import ops

from kerazoo.adversarial.attacks import RAW_PIXELS, check_eps, fgsm, pgd
from kerazoo.training.tasks import register_trainer

DEFAULT_MIX = {"fgsm": 0.5, "pgd": 1.0}


class AdversarialTrainer(keras.Model):
    """Wraps a raw-pixel → logits classifier; ``train_step`` trains it on a clean/adversarial mix.

    Args:
        classifier: the model being trained (what checkpoints save).
        method: "fgsm" or "pgd".
        eps: L∞ budget as a fraction of ``pixel_range``.
        steps: PGD steps.
        step_size: PGD step as a fraction of the pixel range (None: 2.5 * eps / steps).
        mix: weight of the adversarial loss, in [0, 1]; None: 0.5 for fgsm, 1.0 for pgd.
        pixel_range: range of the classifier's inputs (kerazoo models take raw 0-255 pixels).
        seed: seed of the PGD random starts.
    """

    def __init__(self, classifier, *, method="pgd", eps=0.1, steps=7, step_size=None, mix=None,
                 pixel_range=RAW_PIXELS, seed=None, name="adversarial_trainer"):
        super().__init__(name=name)
        if method not in ("fgsm", "pgd"):
            raise ValueError(f"Invalid method: expected fgsm or pgd. Received: method={method!r}")
        mix = DEFAULT_MIX[method] if mix is None else mix
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"Invalid mix: expected a value in [0, 1]. Received: mix={mix!r}")
        self.classifier = classifier
        self.method, self.eps, self.steps, self.step_size = method, check_eps(eps), steps, step_size
        self.mix, self.pixel_range = float(mix), tuple(pixel_range)
        self.seed_generator = keras.random.SeedGenerator(seed, name="attack_seed")
        self.build(classifier.input_shape)  # BackupAndRestore needs a built model before ``fit``

    def build(self, input_shape):
        if not self.classifier.built:
            self.classifier.build(input_shape)
        self.built = True

    def call(self, images, training=False):
        return self.classifier(images, training=training)

    def adversarial_examples(self, images, labels):
        """Attack the current weights; the result is a constant for the weight update."""
        if self.method == "fgsm":
            x_adv = fgsm(self.classifier, images, labels, self.eps, pixel_range=self.pixel_range)
        else:
            x_adv = pgd(self.classifier, images, labels, self.eps, steps=self.steps, step_size=self.step_size,
                        pixel_range=self.pixel_range, seed=self.seed_generator)
        return ops.stop_gradient(x_adv)

    def train_step(self, data):
        images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x_adv = self.adversarial_examples(images, labels)
        if self.mix == 1.0:
            return super().train_step((x_adv, labels) if sample_weight is None else (x_adv, labels, sample_weight))
        # One batch of clean and adversarial images; weights 2(1 - mix) and 2 mix make the batch-mean loss equal to
        # (1 - mix) * clean loss + mix * adversarial loss.
        weight = ops.ones_like(ops.cast(labels, "float32")) if sample_weight is None else sample_weight
        mixed_images = ops.concatenate([images, x_adv], axis=0)
        mixed_labels = ops.concatenate([labels, labels], axis=0)
        mixed_weight = ops.concatenate([2.0 * (1.0 - self.mix) * weight, 2.0 * self.mix * weight], axis=0)
        return super().train_step((mixed_images, mixed_labels, mixed_weight))


@functools.partial(register_trainer, "adversarial")
def adversarial_trainer(model: keras.Model, config) -> AdversarialTrainer:
    """The trainer for ``config`` (an ``AdversarialConfig``: method, eps, steps, step_size, mix)."""
    return AdversarialTrainer(model, method=config.method, eps=config.eps, steps=config.steps,
                              step_size=config.step_size, mix=config.mix)
