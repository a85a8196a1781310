"""Callbacks that write the run directory: metrics.jsonl, atomic best/last checkpoints, the training curves."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time

import keras
import numpy as np

from kerazoo.applications.common import sha256_of
from kerazoo.io import atomic_file, atomic_write_text


def save_model_atomically(model: keras.Model, path: str) -> None:
    """``model.save`` to a temporary .keras file beside ``path``, then rename: a reader never sees half a file.
    Its hash goes to ``PATH.sha256`` (checked when the checkpoint is loaded)."""
    with atomic_file(path) as tmp:
        model.save(tmp)
        digest = sha256_of(tmp)
    atomic_write_text(f"{path}.sha256", f"{digest}  {os.path.basename(path)}\n")


def _clean(logs: dict) -> dict:
    out = {}
    for key, value in (logs or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        out[key] = value if math.isfinite(value) else str(value)
    return out


class MetricsLogger(keras.callbacks.Callback):
    """Appends one JSON line per epoch to ``metrics.jsonl``. On resume, lines of epochs that are being redone
    (after the last backup) are dropped first, so every epoch appears once.

    List it before the backup (:class:`AtomicBackupAndRestore`): an epoch's line is written before the backup names
    that epoch, so a process killed between the two redoes the epoch (its line dropped, then written again) instead
    of resuming after an epoch whose line it never wrote."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                kept = [line for line in f if line.strip() and json.loads(line).get("epoch", -1) < epoch + 1]
            atomic_write_text(self.path, "".join(kept))
        self._first_epoch = False

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, **_clean(logs)}
        lr = getattr(self.model.optimizer, "learning_rate", None)
        if lr is not None:
            record["lr"] = float(keras.ops.convert_to_numpy(lr))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves ``checkpoints/last.keras`` every epoch and ``checkpoints/best.keras`` when ``monitor`` improves, each
    atomically. The best value so far lives in ``checkpoints/best.json`` so a resumed run keeps comparing to it."""

    def __init__(self, folder: str, monitor: str = "val_accuracy", mode: str = "max", model=None):
        super().__init__()
        self.folder = folder
        self.saved_model = model  # what to save when ``fit`` runs a wrapper around it (e.g. adversarial training)
        self.monitor = monitor
        self.mode = mode
        os.makedirs(folder, exist_ok=True)
        self.best_path = os.path.join(folder, "best.json")

    def _best_so_far(self):
        if os.path.exists(self.best_path):
            with open(self.best_path, encoding="utf-8") as f:
                return json.load(f)["value"]
        return None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        save_model_atomically(self.saved_model or self.model, os.path.join(self.folder, "last.keras"))
        value = logs.get(self.monitor)
        if value is None:
            return
        value = float(value)
        best = self._best_so_far()
        better = best is None or (value > best if self.mode == "max" else value < best)
        if better:
            save_model_atomically(self.saved_model or self.model, os.path.join(self.folder, "best.keras"))
            atomic_write_text(
                self.best_path, json.dumps({"monitor": self.monitor, "value": value, "epoch": epoch + 1}) + "\n"
            )


BACKUP_METADATA = "training_metadata.json"


def write_backup(folder: str, model: keras.Model, *, epoch: int, arrays: dict | None = None, **facts) -> None:
    """Back up ``model``'s weights (with its optimizer's state when compiled) and extra ``arrays`` into ``folder``,
    never half-written: new files under temporary names, then ``training_metadata.json`` atomically pointed at
    them (with ``epoch`` and ``facts``), then the previous files removed."""
    os.makedirs(folder, exist_ok=True)
    state = {"epoch": epoch, **facts, "weights": f"epoch-{epoch}.weights.h5"}
    model.save_weights(os.path.join(folder, f".tmp-{state['weights']}"), overwrite=True)
    os.replace(os.path.join(folder, f".tmp-{state['weights']}"), os.path.join(folder, state["weights"]))
    if arrays:
        state["states"] = f"epoch-{epoch}.states.npz"
        with open(os.path.join(folder, f".tmp-{state['states']}"), "wb") as f:
            np.savez(f, **arrays)
        os.replace(os.path.join(folder, f".tmp-{state['states']}"), os.path.join(folder, state["states"]))
    atomic_write_text(os.path.join(folder, BACKUP_METADATA), json.dumps(state) + "\n")
    for old in os.listdir(folder):
        if old.endswith((".weights.h5", ".states.npz")) and old not in (state["weights"], state.get("states")):
            os.remove(os.path.join(folder, old))


def read_backup(folder: str, model: keras.Model) -> dict | None:
    """Restore the weights (and optimizer state) of :func:`write_backup` into ``model``; returns its metadata with
    the extra arrays under ``"arrays"``, or None when ``folder`` holds no backup."""
    state = _backup_metadata(folder)
    if state is None:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(folder, state["weights"]))
    state["arrays"] = {}
    if state.get("states"):
        with np.load(os.path.join(folder, state["states"])) as arrays:
            state["arrays"] = {k: arrays[k] for k in arrays.files}
    return state


def backed_up_epochs(folder: str) -> int:
    """The epochs finished when :func:`write_backup` last wrote ``folder`` (0 when it holds no backup)."""
    state = _backup_metadata(folder)
    return 0 if state is None else int(state["epoch"])


def _backup_metadata(folder: str) -> dict | None:
    path = os.path.join(folder, BACKUP_METADATA)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` whose state is never half-written (:func:`write_backup`), and written by
    the chief alone.

    Every worker restores from ``backup_dir`` (shared by the workers: the run directory's volume on a cluster). A
    non-chief worker takes part in the same save into a private temporary folder that it removes straight away, as
    TensorFlow's multi-worker checkpointing does, so the workers run identical steps and only the chief's backup is
    kept.

    ``states`` maps a name to a callback whose state is not in the model's weights (the weight average of
    :class:`kerazoo.training.averaging.WeightAveraging`): its ``get_state()`` arrays are saved beside each epoch's
    weights, behind the same metadata pointer, and handed back to its ``set_state()`` on restore.
    """

    def __init__(self, backup_dir: str, *, chief: bool = True, worker: str = "worker", states=None):
        super().__init__(backup_dir)
        self.chief = chief
        self.worker = worker
        self.states = dict(states or {})

    def on_train_begin(self, logs=None):
        self._load_model()

    def _load_model(self):
        state = read_backup(self.backup_dir, self.model)
        if state is None:
            return
        for key, owner in self.states.items():
            prefix = f"{key}."
            owner.set_state({k[len(prefix):]: v for k, v in state["arrays"].items() if k.startswith(prefix)})
        self.model._initial_epoch = state["epoch"]

    def _save_model(self):
        folder = self.backup_dir if self.chief else tempfile.mkdtemp(prefix=f"kerazoo-backup-{self.worker}-")
        try:
            arrays = {f"{key}.{k}": v for key, owner in self.states.items() for k, v in owner.get_state().items()}
            write_backup(folder, self.model, epoch=self._current_epoch, batch=self._last_batch_seen, arrays=arrays)
        finally:
            if not self.chief:
                shutil.rmtree(folder, ignore_errors=True)

    def on_train_end(self, logs=None):
        # The backup outlives ``fit``: :func:`finish_run` removes it once summary.json is written, so a process killed
        # during the final evaluation resumes there (all epochs backed up: ``fit`` runs none) instead of retraining.
        pass


def finish_run(run_dir: str, summary: dict) -> None:
    """Write ``summary.json`` (atomically), then remove ``backup/``: the last step of every trainer's run.

    In this order a process killed at any point loses no work: before the summary, the backup still names the last
    epoch, so training again into ``run_dir`` goes straight to the final evaluation; after it, the run is complete
    (a leftover ``backup/`` is removed by :func:`kerazoo.training.run.check_run_dir`)."""
    atomic_write_text(os.path.join(run_dir, "summary.json"), json.dumps(summary, indent=1) + "\n")
    shutil.rmtree(os.path.join(run_dir, "backup"), ignore_errors=True)


HEARTBEAT_FILE = "heartbeat"
HEARTBEAT_SECONDS = 30.0


class Heartbeat(keras.callbacks.Callback):
    """Touches ``RUN/heartbeat`` when training starts and then at most every ``HEARTBEAT_SECONDS`` (checked after each
    batch), so ``kerazoo runs list`` can tell a running run from an interrupted one without a process table."""

    def __init__(self, run_dir: str, seconds: float = HEARTBEAT_SECONDS):
        super().__init__()
        self.path = os.path.join(run_dir, HEARTBEAT_FILE)
        self.seconds = seconds
        self._last = -math.inf

    def _beat(self, force: bool = False):
        now = time.monotonic()
        if force or now - self._last >= self.seconds:
            with open(self.path, "a", encoding="utf-8"):
                os.utime(self.path)
            self._last = now

    def on_train_begin(self, logs=None):
        self._beat(force=True)

    def on_train_batch_end(self, batch, logs=None):
        self._beat()

    def on_epoch_end(self, epoch, logs=None):
        self._beat(force=True)


def read_metrics(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _score_key(records: list[dict]) -> str | None:
    """The metric drawn beside the loss: accuracy for classifiers, else the task's first score (mean_iou, ...)."""
    keys = {k for r in records for k, v in r.items() if isinstance(v, float)}
    scores = sorted(k for k in keys if not k.startswith("val_") and not k.endswith("loss") and k != "lr")
    return "accuracy" if "accuracy" in scores else next(iter(scores), None)


def plot_curves(metrics_path: str, out_path: str) -> None:
    """Loss and the task's score (accuracy, mean IoU, ...) per epoch, train vs validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    if not records:
        return
    epochs = [r["epoch"] for r in records]
    keys = ["loss"] + [k for k in [_score_key(records)] if k]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = [r.get(prefix + key) for r in records]
            if any(isinstance(v, float) for v in values):
                ax.plot(epochs, values, style, marker="o", label=("validation " if prefix else "train ") + key)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
