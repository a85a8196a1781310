"""Magnitude pruning with tfmot (Han et al., 2015, "Learning both Weights and Connections"; Zhu & Gupta, 2017,
"To prune, or not to prune" for the polynomial schedule), optionally structured 2:4 (Mishra et al., 2021).

    pruned = prune_model(model, train_ds, sparsity=0.8, epochs=2)      # Keras 3 in, Keras 3 out (stripped)

Lower level, on tf_keras models (the bridge): :func:`apply_pruning` wraps the prunable layers,
:func:`pruning_callbacks` must be passed to ``fit``, :func:`strip` removes the wrappers before export.

tfmot's schedules default to ``frequency=100`` (a mask update every 100 steps), so a short fine-tune would prune
nothing: :func:`make_schedule` always sets the frequency from the number of fine-tuning steps.
"""

from __future__ import annotations

import difflib

SCHEDULES = ("constant", "polynomial")


def _tfmot_sparsity():
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras


def check_sparsity(sparsity: float) -> float:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"Invalid sparsity: expected a value in [0, 1). Received: sparsity={sparsity}")
    return float(sparsity)


def make_schedule(kind: str, sparsity: float, total_steps: int, *, initial_sparsity: float = 0.0,
                  updates: int = 10):
    """A tfmot pruning schedule reaching ``sparsity`` within ``total_steps`` fine-tuning steps.

    Args:
        kind: "constant" (prune to ``sparsity`` at once, then hold) or "polynomial" (cubic ramp from
            ``initial_sparsity``, reaching the target after 3/4 of the steps so the last quarter recovers accuracy).
        total_steps: fine-tuning steps (>= 1).
        updates: about how many mask updates to make (the frequency is derived from it).
    """
    check_sparsity(sparsity)
    if kind not in SCHEDULES:
        raise ValueError(f"Invalid schedule: expected one of {', '.join(SCHEDULES)}. Received: schedule={kind!r}")
    if total_steps < 1:
        raise ValueError(f"Invalid total_steps: expected at least 1 fine-tuning step. Received: {total_steps}")
    sparsity_keras = _tfmot_sparsity()
    if kind == "constant":
        frequency = max(1, total_steps // updates)
        return sparsity_keras.ConstantSparsity(sparsity, begin_step=0, frequency=frequency)
    ramp = max(1, (3 * total_steps) // 4)
    frequency = max(1, ramp // updates)
    end_step = frequency * max(1, ramp // frequency)  # a multiple of the frequency, so the final update happens
    return sparsity_keras.PolynomialDecay(initial_sparsity, sparsity, begin_step=0, end_step=end_step,
                                          frequency=frequency)


def prunable_layer_names(tf_keras_model, exclude=()) -> list[str]:
    """Layers tfmot can prune (those with weights in its registry), minus ``exclude`` (names; unknown names raise)."""
    from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

    names = [layer.name for layer in tf_keras_model.layers]
    unknown = [name for name in exclude if name not in names]
    if unknown:
        hints = {n: difflib.get_close_matches(n, names, 3) for n in unknown}
        raise ValueError(f"Invalid exclude: no such layers {hints} (name: close matches). Layers: {names}")
    return [
        layer.name for layer in tf_keras_model.layers
        if layer.name not in exclude and layer.weights and prune_registry.PruneRegistry.supports(layer)
    ]


def apply_pruning(tf_keras_model, schedule, *, exclude=(), m_by_n: tuple[int, int] | None = None):
    """``tf_keras_model`` with its prunable layers wrapped by ``prune_low_magnitude`` (``exclude``: names to keep
    dense, e.g. the first conv and the classifier, which are small and sensitive).

    ``m_by_n=(2, 4)`` prunes 2 of every 4 consecutive input weights (structured sparsity that sparse tensor cores run
    fast); the schedule then only says when, the sparsity is m/n.
    """
    import tf_keras

    targets = set(prunable_layer_names(tf_keras_model, exclude))
    if not targets:
        raise ValueError(f"Model {tf_keras_model.name!r} has no prunable layer left (exclude={list(exclude)}).")
    prune_low_magnitude = _tfmot_sparsity().prune_low_magnitude
    extra = {"sparsity_m_by_n": tuple(m_by_n)} if m_by_n else {}

    def wrap(layer):
        if layer.name in targets:
            return prune_low_magnitude(layer, pruning_schedule=schedule, **extra)
        return layer.__class__.from_config(layer.get_config())

    pruned = tf_keras.models.clone_model(tf_keras_model, clone_function=wrap)
    copy_into_wrapped(tf_keras_model, pruned)
    return pruned


def copy_into_wrapped(source, wrapped_model) -> None:
    """Copy weights layer by layer into a clone whose layers may be tfmot wrappers (which add mask variables and
    rename the layer), so ``set_weights`` on the whole model would misalign."""
    for original, clone in zip(source.layers, wrapped_model.layers):
        weights = original.get_weights()
        if weights:
            getattr(clone, "layer", clone).set_weights(weights)


def pruning_callbacks():
    """Callbacks ``fit`` needs while wrappers are present (UpdatePruningStep advances the schedule)."""
    return [_tfmot_sparsity().UpdatePruningStep()]


def strip(tf_keras_model):
    """The model without pruning wrappers (the masked weights stay zero), ready to export or go back to Keras 3."""
    return _tfmot_sparsity().strip_pruning(tf_keras_model)


def prune_model(model, train_ds, *, sparsity: float = 0.8, epochs: int = 2, schedule: str = "polynomial",
                exclude=(), m_by_n=None, lr: float = 1e-4, steps_per_epoch: int | None = None, verbose: int = 0):
    """Prune a Keras 3 model while fine-tuning it on ``train_ds``; returns the stripped Keras 3 model.

    Args:
        model: functional Keras 3 model, raw pixels → logits.
        train_ds: tf.data of (images, labels) to fine-tune on (the training split).
        sparsity: target fraction of zero weights in every pruned layer (ignored with ``m_by_n``).
        epochs: fine-tuning epochs (>= 1: the masks are updated during training).
        schedule: "constant" or "polynomial" (see :func:`make_schedule`).
        exclude: layer names to leave dense.
        m_by_n: e.g. (2, 4) for structured 2:4 sparsity.
    """
    from kerazoo.optimize.bridge import to_keras, to_tf_keras
    from kerazoo.optimize.finetune import fine_tune

    if epochs < 1:
        raise ValueError(f"Invalid epochs: pruning needs at least 1 fine-tuning epoch. Received: epochs={epochs}")
    steps = steps_per_epoch or int(train_ds.cardinality())
    tf_model = to_tf_keras(model)
    wrapped = apply_pruning(tf_model, make_schedule(schedule, sparsity, steps * epochs), exclude=exclude,
                            m_by_n=m_by_n)
    fine_tune(wrapped, train_ds, epochs=epochs, lr=lr, callbacks=pruning_callbacks(), steps_per_epoch=steps_per_epoch,
              verbose=verbose)
    return to_keras(strip(wrapped), like=model)
