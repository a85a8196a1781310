"""Callbacks that write the run directory: metrics.jsonl, atomic best/last checkpoints, the training curves."""

from __future__ import annotations

import json
import math
import os
import tempfile

import keras

from kerazoo.applications.common import sha256_of
from kerazoo.io import atomic_write_text


def save_model_atomically(model: keras.Model, path: str) -> None:
    """``model.save`` to a temporary .keras file beside ``path``, then rename: a reader never sees half a file.
    Its hash goes to ``PATH.sha256`` (checked when the checkpoint is loaded)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        digest = sha256_of(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
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
    (after the last backup) are dropped first, so every epoch appears once."""

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


def read_metrics(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(metrics_path: str, out_path: str) -> None:
    """Loss and accuracy per epoch, train vs validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    if not records:
        return
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
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
