"""Averaging for better test accuracy at no training cost: weight averages, snapshot ensembles, run ensembles.

- :class:`WeightAveraging`: an exponential moving average (EMA) or a plain Polyak average (Polyak and Juditsky,
  1992) of the weights along the training trajectory. The average is swapped in for validation, so checkpoints and
  the final model hold it, and swapped out again before training continues.
- :class:`SnapshotSaver`: saves ``checkpoints/snapshot_N.keras`` at the end of every SGDR cycle; averaging their
  softmax outputs is a snapshot ensemble (Huang et al., 2017, "Snapshot ensembles: train 1, get M for free").
- :func:`ensemble_predict`: the mean class probabilities of several models: the snapshots of one run, or the
  best checkpoints of independently trained runs (a model ensemble, as in the CS231n notes).

In a config: ``schedule.averaging: ema`` (``schedule.ema_decay``) or ``polyak``; ``schedule.name: sgdr`` with
``schedule.snapshots: true``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re

import keras
import numpy as np

from kerazoo.training.callbacks import save_model_atomically

__all__ = ["WeightAveraging", "SnapshotSaver", "averaging_callbacks", "ensemble_predict", "snapshot_paths"]


class WeightAveraging(keras.callbacks.Callback):
    """Keep an average of the model's weights, updated after every training step, and evaluate with it.

    Args:
        kind: "ema" (shadow ← d · shadow + (1 - d) · w, with d warmed up as min(decay, (1 + t) / (10 + t)) like
            ``tf.train.ExponentialMovingAverage``'s ``num_updates``) or "polyak" (the plain mean of all iterates).
        decay: the EMA decay d.
        model: the model to average when ``fit`` runs a wrapper around it (default: the fitted model).
    """

    def __init__(self, kind: str = "ema", decay: float = 0.999, model: keras.Model | None = None):
        super().__init__()
        if kind not in ("ema", "polyak"):
            raise ValueError(f"Invalid kind: expected ema or polyak. Received: kind={kind!r}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"Invalid decay: expected a value in (0, 1). Received: decay={decay!r}")
        self.kind, self.decay, self.averaged_model = kind, decay, model
        self.shadow = None
        self.updates = 0
        self._swapped = None  # the training weights while the average is in the model

    @property
    def target(self) -> keras.Model:
        return self.averaged_model or self.model

    def _float_weights(self):
        return [w for w in self.target.weights if "float" in str(w.dtype)]

    def on_train_begin(self, logs=None):
        if self.shadow is None:  # a resumed run got its average back from the backup (set_state) already
            self.shadow = [np.array(w) for w in self._float_weights()]

    def get_state(self) -> dict:
        """The average and its update count: saved with each backup, so a resumed run continues the same average."""
        if self.shadow is None:
            return {}
        return {"updates": np.array(self.updates), **{f"shadow_{i}": s for i, s in enumerate(self.shadow)}}

    def set_state(self, state: dict) -> None:
        shadow = [np.array(state[f"shadow_{i}"]) for i in range(sum(k.startswith("shadow_") for k in state))]
        shapes = [tuple(w.shape) for w in self._float_weights()]
        if [s.shape for s in shadow] != shapes:
            raise ValueError(f"The backed-up weight average does not fit this model: {len(shadow)} arrays for "
                             f"{len(shapes)} float weights.")
        self.shadow, self.updates = shadow, int(state["updates"])

    def on_train_batch_begin(self, batch, logs=None):
        self._restore()

    def on_train_batch_end(self, batch, logs=None):
        self.updates += 1
        if self.kind == "ema":
            rate = 1.0 - min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        else:
            rate = 1.0 / (self.updates + 1.0)
        for shadow, weight in zip(self.shadow, self._float_weights()):
            shadow += rate * (np.asarray(weight) - shadow)

    def swap_in(self):
        """Put the average into the model (keeping the training weights aside); idempotent."""
        if self._swapped is None and self.shadow is not None:
            variables = self._float_weights()
            self._swapped = [np.array(w) for w in variables]
            for variable, value in zip(variables, self.shadow):
                variable.assign(value)

    def _restore(self):
        if self._swapped is not None:
            for variable, value in zip(self._float_weights(), self._swapped):
                variable.assign(value)
            self._swapped = None

    def on_test_begin(self, logs=None):
        self.swap_in()

    def on_test_end(self, logs=None):
        self._restore()

    @contextlib.contextmanager
    def training_weights(self):
        """The training weights in the model for the block (the backup saves them, not the average), then the
        average back if it was in."""
        swapped = self._swapped is not None
        self._restore()
        try:
            yield self.target
        finally:
            if swapped:
                self.swap_in()

    def on_epoch_end(self, epoch, logs=None):
        # ``train`` lists this callback after the metrics line and before the checkpoints (which get the average) and
        # the backup (which takes the training weights through training_weights()).
        self.swap_in()

    def on_train_end(self, logs=None):
        self.swap_in()
        self._swapped = None  # the final model keeps the average


class SnapshotSaver(keras.callbacks.Callback):
    """Save the model as ``folder/snapshot_N.keras`` at the end of each epoch in ``epochs`` (1-based)."""

    def __init__(self, folder: str, epochs, model: keras.Model | None = None):
        super().__init__()
        self.folder, self.epochs, self.saved_model = folder, set(int(e) for e in epochs), model
        os.makedirs(folder, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            path = os.path.join(self.folder, f"snapshot_{epoch + 1}.keras")
            save_model_atomically(self.saved_model or self.model, path)


def averaging_callbacks(config, run_dir: str, model: keras.Model, steps_per_epoch: int) -> list:
    """The callbacks that ``config.schedule`` asks for; ``train`` puts them before its checkpoint callbacks."""
    from kerazoo.training.schedules import EpochSchedule, restart_epochs_of

    schedule = config.schedule
    callbacks = []
    if schedule.averaging != "none":
        callbacks.append(WeightAveraging(schedule.averaging, schedule.ema_decay, model=model))
    if schedule.snapshots:
        if schedule.name != "sgdr":
            raise ValueError(f"Config field 'schedule.snapshots' needs schedule.name sgdr (snapshots are taken at "
                             f"its restarts); got schedule.name={schedule.name!r}.")
        ends = restart_epochs_of(EpochSchedule(
            1.0, steps_per_epoch, config.epochs, kind="sgdr", warmup_epochs=schedule.warmup_epochs,
            restart_epochs=schedule.restart_epochs, restart_mult=schedule.restart_mult))
        callbacks.append(SnapshotSaver(os.path.join(run_dir, "checkpoints"), ends, model=model))
    return callbacks


def snapshot_paths(run_dir: str) -> list[str]:
    """The snapshot checkpoints of a run, in epoch order."""
    paths = glob.glob(os.path.join(run_dir, "checkpoints", "snapshot_*.keras"))
    return sorted(paths, key=lambda p: int(re.search(r"snapshot_(\d+)", p).group(1)))


def _load(path_or_model):
    if isinstance(path_or_model, keras.Model):
        return path_or_model
    if os.path.isdir(path_or_model):
        from kerazoo.runs import RunDir

        return RunDir(path_or_model).load_model()
    return keras.saving.load_model(path_or_model, safe_mode=True)


def ensemble_predict(members, images, *, batch_size: int = 256) -> np.ndarray:
    """Mean softmax probabilities of several raw-pixel → logits models over ``images``.

    Args:
        members: run directories (their best checkpoint), ``.keras`` files (e.g. ``snapshot_paths(run_dir)``) or
            models.
        images: raw pixels [N, H, W, C].
    """
    members = list(members)
    if not members:
        raise ValueError("Invalid members: expected at least one run directory, .keras file or model. Received: []")
    total = None
    for member in members:
        logits = _load(member).predict(np.asarray(images, "float32"), batch_size=batch_size, verbose=0)
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
        total = probabilities if total is None else total + probabilities
    return total / len(members)
