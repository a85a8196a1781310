"""Callbacks that write the run directory during ``fit``: the metrics line, best/last checkpoints, the backup, the
heartbeat; and the training curves. Every file goes through :class:`kerazoo.runs.RunDir` (its crash rules)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time

import keras

from kerazoo.io import save_figure
from kerazoo.runs import (  # noqa: F401 (the backup helpers' old home: tests and kerazoo.sequence import them here)
    BACKUP_METADATA, HEARTBEAT, HEARTBEAT_SECONDS, RunDir, backed_up_epochs, read_backup, read_jsonl, write_backup,
)


def save_model_atomically(model: keras.Model, path: str) -> None:
    """``model.save`` to ``path`` (a ``checkpoints/NAME.keras`` of a run) with its hash beside it, never half-written
    (:meth:`kerazoo.runs.RunDir.save_checkpoint`)."""
    RunDir(os.path.dirname(os.path.dirname(os.path.abspath(path)))).save_checkpoint(
        model, os.path.basename(path).removesuffix(".keras"))


def _clean(logs: dict) -> dict:
    out = {}
    for key, value in (logs or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        out[key] = value if math.isfinite(value) else str(value)
    return out


def _run_of(path: str, name: str) -> RunDir:
    """The run whose file or folder ``name`` is ``path`` (the callbacks' constructors take paths, as they always did)."""
    path = os.path.abspath(path)
    if os.path.basename(path) != name:
        raise ValueError(f"Invalid path {path!r}: expected a run directory's {name}.")
    return RunDir(os.path.dirname(path))


class MetricsLogger(keras.callbacks.Callback):
    """Appends one JSON line per epoch to ``metrics.jsonl`` (``path``). On resume, lines of epochs that are being
    redone (after the last backup) are dropped first, so every epoch appears once.

    List it before the backup (:class:`AtomicBackupAndRestore`): an epoch's line is written before the backup names
    that epoch, so a process killed between the two redoes the epoch (its line dropped, then written again) instead
    of resuming after an epoch whose line it never wrote (kerazoo.runs, crash rule 3)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.run = _run_of(path, "metrics.jsonl")
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch:
            self.run.keep_metrics(epoch)
        self._first_epoch = False

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, **_clean(logs)}
        lr = getattr(self.model.optimizer, "learning_rate", None)
        if lr is not None:
            record["lr"] = float(keras.ops.convert_to_numpy(lr))
        self.run.append_metrics(record)


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves ``checkpoints/last.keras`` every epoch and ``checkpoints/best.keras`` when ``monitor`` improves, each
    atomically with its hash. The best value so far lives in ``checkpoints/best.json`` so a resumed run keeps
    comparing to it."""

    def __init__(self, folder: str, monitor: str = "val_accuracy", mode: str = "max", model=None):
        super().__init__()
        self.folder = folder
        self.run = _run_of(folder, "checkpoints")
        self.saved_model = model  # what to save when ``fit`` runs a wrapper around it (e.g. adversarial training)
        self.monitor = monitor
        self.mode = mode
        os.makedirs(folder, exist_ok=True)
        self.best_path = os.path.join(folder, "best.json")

    def _best_so_far(self):
        record = self.run.best_record()
        return None if record is None else record["value"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.run.save_checkpoint(self.saved_model or self.model, "last")
        value = logs.get(self.monitor)
        if value is None:
            return
        value = float(value)
        best = self._best_so_far()
        better = best is None or (value > best if self.mode == "max" else value < best)
        if better:
            self.run.save_checkpoint(self.saved_model or self.model, "best")
            self.run.write_best_record({"monitor": self.monitor, "value": value, "epoch": epoch + 1})


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
            with contextlib.ExitStack() as stack:  # listed after the averaging callbacks: back up the training weights
                for owner in self.states.values():
                    if hasattr(owner, "training_weights"):
                        stack.enter_context(owner.training_weights())
                write_backup(folder, self.model, epoch=self._current_epoch, batch=self._last_batch_seen, arrays=arrays)
        finally:
            if not self.chief:
                shutil.rmtree(folder, ignore_errors=True)

    def on_train_end(self, logs=None):
        # The backup outlives ``fit``: :func:`finish_run` removes it once summary.json is written, so a process killed
        # during the final evaluation resumes there (all epochs backed up: ``fit`` runs none) instead of retraining.
        pass


def finish_run(run_dir: str, summary: dict) -> None:
    """Write ``summary.json``, then remove ``backup/``: the last step of every trainer's run
    (:meth:`kerazoo.runs.RunDir.finish`, crash rule 4)."""
    RunDir(run_dir).finish(summary)


HEARTBEAT_FILE = HEARTBEAT


class Heartbeat(keras.callbacks.Callback):
    """Touches ``RUN/heartbeat`` when training starts and then at most every ``HEARTBEAT_SECONDS`` (checked after each
    batch), so ``kerazoo runs list`` can tell a running run from an interrupted one without a process table."""

    def __init__(self, run_dir: str, seconds: float = HEARTBEAT_SECONDS):
        super().__init__()
        self.run = RunDir(run_dir)
        self.path = self.run.file(HEARTBEAT)
        self.seconds = seconds
        self._last = -math.inf

    def _beat(self, force: bool = False):
        now = time.monotonic()
        if force or now - self._last >= self.seconds:
            self.run.touch_heartbeat()
            self._last = now

    def on_train_begin(self, logs=None):
        self._beat(force=True)

    def on_train_batch_end(self, batch, logs=None):
        self._beat()

    def on_epoch_end(self, epoch, logs=None):
        self._beat(force=True)


def read_metrics(path: str) -> list[dict]:
    """The records of a metrics log such as a run's ``metrics.jsonl``, a torn last line skipped
    (:func:`kerazoo.runs.read_jsonl`)."""
    return read_jsonl(path)


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
    save_figure(fig, out_path, dpi=100)
