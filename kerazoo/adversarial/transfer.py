"""Black-box attacks by transfer: craft adversarial examples on a model you can differentiate, and measure how
often they also fool a target you can only query (any exported artifact: a TFLite or ONNX file works).

    figures = transfer_attack(source_model, target_predictor, images, labels, eps=0.1)

The source is either another zoo model trained on the same task, or a substitute trained only from the target's
answers with Jacobian-based dataset augmentation (Papernot, McDaniel, Goodfellow, Jha, Celik and Swami, "Practical
black-box attacks against machine learning", AsiaCCS 2017):

    substitute, history = train_substitute(target_predictor, seed_images, make_substitute((28, 28, 1), 10))
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerazoo.adversarial.attacks import RAW_PIXELS, check_pixel_range, input_gradient, logits_of
from kerazoo.adversarial.robustness import attack_batches, predict


def transfer_attack(source, target, images, labels, *, attack: str = "pgd", eps: float = 0.1, batch_size: int = 256,
                    **attack_options) -> dict:
    """Craft ``attack`` examples on ``source`` and measure them on ``target``.

    Args:
        source: differentiable model (Keras model or callable, images → logits).
        target: any images → logits callable (a Keras model, or ``kerazoo.export.runtime.load_predictor(path)``).
        images, labels: the clean examples (inside the attack's ``pixel_range``, default raw 0-255 pixels).
        attack, eps, attack_options: as for ``kerazoo.adversarial.attacks.run_attack``.

    Returns:
        Clean and adversarial accuracy of both models, and ``transfer_rate``: of the examples that fool the source
        and that the target classifies correctly when clean, the fraction that also fool the target.
    """
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels)
    adversarial = attack_batches(attack, source, images, labels, eps, batch_size, **attack_options)
    source_clean = predict(source, images, batch_size) == labels
    source_adv = predict(source, adversarial, batch_size) == labels
    target_clean = predict(target, images, batch_size) == labels
    target_adv = predict(target, adversarial, batch_size) == labels
    candidates = ~source_adv & target_clean
    return {
        "attack": attack, "eps": float(eps), "examples": int(len(labels)),
        "source_clean_accuracy": float(source_clean.mean()), "source_adversarial_accuracy": float(source_adv.mean()),
        "target_clean_accuracy": float(target_clean.mean()), "target_adversarial_accuracy": float(target_adv.mean()),
        "transfer_rate": float((~target_adv[candidates]).mean()) if candidates.any() else 0.0,
        "transfer_candidates": int(candidates.sum()),
    }


def make_substitute(input_shape, classes: int, model_name: str = "lenet5") -> keras.Model:
    """A zoo model on raw pixels (scaled to [0, 1] by its first layer) returning logits: the substitute's
    architecture, which need not match the target's (Papernot et al. use a small CNN)."""
    from kerazoo.applications import create_model

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    scaled = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    return create_model(model_name, input_tensor=scaled, classes=classes, classifier_activation=None)


def jacobian_augmentation(substitute, images, oracle_labels, step: float, pixel_range=RAW_PIXELS,
                          batch_size: int = 256) -> np.ndarray:
    """Papernot et al.'s new points: x + step · sign(∂F_{O(x)}(x) / ∂x), where F_{O(x)} is the substitute's logit
    of the class the target gave x; they lie where the substitute's decision boundary is most uncertain."""
    low, high = check_pixel_range(pixel_range)
    classes = int(substitute.output_shape[-1])
    parts = []
    for i in range(0, len(images), batch_size):
        batch = images[i : i + batch_size]
        chosen = ops.one_hot(oracle_labels[i : i + batch_size], classes)
        _, gradient = input_gradient(lambda x: ops.sum(logits_of(substitute, x) * chosen, axis=-1), batch)  # noqa: B023
        moved = ops.clip(batch + step * (high - low) * ops.sign(gradient), low, high)
        parts.append(ops.convert_to_numpy(moved))
    return np.concatenate(parts)


def train_substitute(oracle, seed_images, substitute: keras.Model, *, rounds: int = 4, step: float = 0.1,
                     flip_every: int = 3, epochs: int = 10, batch_size: int = 32, learning_rate: float = 1e-3,
                     pixel_range=RAW_PIXELS, verbose: int = 0):
    """Train ``substitute`` to imitate ``oracle`` from its labels only (Papernot et al., 2017, Algorithm 1).

    Each round labels the current set with the oracle's answers, trains the substitute on it, then doubles the set
    with Jacobian-based augmentation. The step's sign flips every ``flip_every`` rounds (their periodic step size),
    so new points are not pushed ever further in one direction.

    Args:
        oracle: the black box, images → logits (or probabilities; only its argmax is used).
        seed_images: the initial set S₀ (Papernot et al. use 150 test images).
        substitute: a Keras model images → logits, e.g. :func:`make_substitute`.
        rounds: substitute training epochs ρ (the set grows to len(seed_images) · 2^(rounds - 1)).
        step: λ, the augmentation step as a fraction of the pixel range.
        epochs: training epochs per round.

    Returns:
        ``(substitute, history)``; ``history`` lists per round the set size, the oracle queries so far and the
        substitute's agreement with the oracle on the set.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"Invalid rounds: expected a positive integer. Received: rounds={rounds!r}")
    if not 0 < step <= 1:
        raise ValueError(f"Invalid step: expected a value in (0, 1] (a fraction of the pixel range). Received: step={step!r}")
    images = np.asarray(seed_images, np.float32)
    substitute.compile(optimizer=keras.optimizers.Adam(learning_rate),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history, queries = [], 0
    for round_index in range(rounds):
        labels = predict(oracle, images)
        queries += len(images)
        substitute.fit(images, labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
        agreement = float(np.mean(predict(substitute, images) == labels))
        history.append({"round": round_index + 1, "set_size": int(len(images)), "oracle_queries": queries,
                        "agreement": agreement})
        if round_index < rounds - 1:
            signed_step = step * (-1.0) ** (round_index // flip_every)
            images = np.concatenate([images, jacobian_augmentation(substitute, images, labels, signed_step, pixel_range)])
    return substitute, history


def substitute_transfer_report(target_path: str, *, dataset=None, split=None, data_dir=None, seed_examples: int = 150,
                               limit: int | None = 1000, rounds: int = 4, epochs: int = 10, attack: str = "pgd",
                               eps: float = 0.1, steps: int = 20, substitute_model: str = "lenet5",
                               source_path: str | None = None) -> dict:
    """The whole black-box attack on an exported artifact or run: train a substitute from the target's answers on
    the split's first ``seed_examples`` images, then craft examples on the next ``limit`` images and measure how many
    fool the target. With ``source_path`` no substitute is trained: examples are crafted on that model, on the
    split's first ``limit`` images."""
    from kerazoo.adversarial.robustness import load_attackable
    from kerazoo.datasets import split_arrays
    from kerazoo.export.evaluate import resolve_data
    from kerazoo.export.runtime import load_predictor

    target = load_predictor(target_path)
    dataset, split, data_dir = resolve_data(target_path, dataset, split, data_dir)
    seeds = 0 if source_path is not None else seed_examples  # a given source needs no images to learn from
    images, labels = split_arrays(dataset, split, data_dir=data_dir, limit=None if limit is None else seeds + limit)
    report = {"target": target_path, "target_format": target.fmt, "dataset": dataset, "split": split}
    if source_path is None:
        classes = int(target(images[:1]).shape[-1])
        substitute = make_substitute(images.shape[1:], classes, substitute_model)
        source, history = train_substitute(target, images[:seed_examples], substitute, rounds=rounds, epochs=epochs)
        images, labels = images[seed_examples:], labels[seed_examples:]
        report["source"] = {"substitute": substitute_model, "seed_examples": seed_examples, "rounds": history}
    else:
        source, _ = load_attackable(source_path)
        report["source"] = {"model": source_path}
    options = {"steps": steps} if attack != "fgsm" else {}
    report.update(transfer_attack(source, target, images, labels, attack=attack, eps=eps, **options))
    return report
