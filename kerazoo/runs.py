"""The run directory (``runs/NAME/``): :class:`RunDir` is the only code that reads or writes it.

Layout (docs/training.md, "The run directory"):

- ``config.yaml``: the resolved config; under ``resolved`` what the run chose (strategy, speed, stream start);
- ``dataset.json``: the training data's shape, classes and normalization;
- ``metrics.jsonl``: one JSON line per epoch (or evaluation), appended;
- ``checkpoints/{best,last}.keras`` with ``NAME.keras.sha256`` beside each, ``checkpoints/best.json`` (the monitored
  value of ``best``), ``checkpoints/snapshot_N.keras`` (SGDR snapshots); or, for trainers whose state is not one
  Keras model (RL), ``checkpoints/last/`` holding ``arrays.npz`` + ``meta.json`` (:meth:`RunDir.save_state`);
- ``backup/``: the state to resume from (weights, optimizer, averaging), present only while the run is unfinished;
- ``summary.json``: written last; its presence means the run is complete;
- ``tb/``, ``curves.png``, ``heartbeat``, ``profile.json``: for people; nothing reads them back.

Crash rules (a process may be killed at any instruction; nothing is lost, nothing is read half-written):

1. Every file but ``metrics.jsonl`` is written to a temporary name beside it, then renamed (``kerazoo.io``); a
   checkpoint's hash file is renamed in after the checkpoint, so a reader checks a checkpoint against its own hash
   or (killed in between) finds the mismatch and says so.
2. ``metrics.jsonl`` is appended one line at a time; a kill inside a write leaves a torn last line, which readers
   skip and the next append cuts off (:meth:`RunDir.append_metrics`).
3. An epoch's end writes go in this order: metrics line, averaging state, checkpoints, then the backup naming the
   epoch. Killed before the backup, the run redoes the epoch, first dropping lines of epochs after the backup's
   (:meth:`RunDir.keep_metrics`); killed after it, nothing of the epoch is missing.
4. ``summary.json`` is written before ``backup/`` is removed (:meth:`RunDir.finish`): killed before, the run resumes at
   its final evaluation; after, it is complete, and a leftover ``backup/`` is removed by :meth:`RunDir.prepare`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile

import numpy as np
import yaml

from kerazoo.io import atomic_file, atomic_write_text, temporary_folder, verify_sha256, write_sha256

CONFIG = "config.yaml"
DATASET = "dataset.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"
BACKUP = "backup"
HEARTBEAT = "heartbeat"
BEST_RECORD = "best.json"
CHECKPOINT_NAMES = ("best", "last")

HEARTBEAT_SECONDS = 30.0
"""How often a training chief touches ``heartbeat`` (kerazoo.training.callbacks.Heartbeat)."""
STALE_SECONDS = 4 * HEARTBEAT_SECONDS
"""A heartbeat older than this means the training process is gone."""


class RunDir:
    """One run directory. Creating the object touches nothing; :meth:`prepare` creates or resumes the run."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.path.abspath(os.fspath(path))

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    def __fspath__(self) -> str:
        return self.path

    def file(self, *parts: str) -> str:
        """The path of ``parts`` inside the run (``run.file("tb")``)."""
        return os.path.join(self.path, *parts)

    @property
    def backup_dir(self) -> str:
        return self.file(BACKUP)

    @property
    def checkpoint_dir(self) -> str:
        return self.file(CHECKPOINTS)

    @property
    def metrics_path(self) -> str:
        return self.file(METRICS)

    # --- life cycle -------------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether a run was started here (its config.yaml written)."""
        return os.path.exists(self.file(CONFIG))

    @property
    def complete(self) -> bool:
        """Whether the run finished (its summary.json written)."""
        return os.path.exists(self.file(SUMMARY))

    def prepare(self, config: dict, *, overwrite: bool = False) -> bool:
        """Create the run for ``config`` (as written to config.yaml), or find the interrupted one to resume; returns
        whether it resumes.

        Refuses to clobber a finished run and to resume with a different config (``resolved`` aside: what the run
        chose is written beside its config); ``overwrite`` deletes whatever the folder holds first.
        """
        resuming = self.exists()
        if resuming and overwrite:
            shutil.rmtree(self.path)
            resuming = False
        if resuming and self.complete:
            shutil.rmtree(self.backup_dir, ignore_errors=True)  # left by a kill just after the summary (rule 4)
            raise FileExistsError(
                f"Run {self.path} is already complete. Pass --overwrite (overwrite=True) to replace it, or choose "
                "another --out."
            )
        if resuming:
            saved = self.read_config()
            saved.pop("resolved", None)
            changed = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
            if changed:
                raise ValueError(
                    f"Run {self.path} was started with a different config (fields {', '.join(changed)} differ). "
                    "Rerun with the same arguments to resume, pass --overwrite (overwrite=True) to restart, or choose "
                    "another --out."
                )
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        return resuming

    def finish(self, summary: dict) -> None:
        """Write ``summary.json``, then remove ``backup/``: the last step of every run (crash rule 4)."""
        self.write_json(SUMMARY, summary)
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    def status(self, now: float | None = None) -> str:
        """``complete`` (summary.json written), ``running`` (the heartbeat touched within ``STALE_SECONDS``) or
        ``interrupted`` (neither: training again with the same config resumes it)."""
        if self.complete:
            return "complete"
        heartbeat = self.file(HEARTBEAT)
        if os.path.exists(heartbeat) and (now or time.time()) - os.path.getmtime(heartbeat) < STALE_SECONDS:
            return "running"
        return "interrupted"

    def touch_heartbeat(self) -> None:
        with open(self.file(HEARTBEAT), "a", encoding="utf-8"):
            os.utime(self.file(HEARTBEAT))

    # --- config, dataset facts, summary -----------------------------------------------------------------------------

    def write_config(self, resolved: dict) -> None:
        """Write the resolved config (the config, and what the run chose under ``resolved``) atomically."""
        atomic_write_text(self.file(CONFIG), yaml.safe_dump(resolved, sort_keys=False))

    def read_config(self) -> dict:
        """config.yaml as written: its config, and under ``resolved`` what the run chose."""
        if not self.exists():
            raise FileNotFoundError(f"{self.path} is not a kerazoo run directory: it has no config.yaml.")
        with open(self.file(CONFIG), encoding="utf-8") as f:
            return yaml.safe_load(f) or {}

    def write_json(self, name: str, data) -> None:
        """Write ``name`` (``dataset.json``, ``summary.json``, ``checkpoints/best.json``...) atomically."""
        atomic_write_text(self.file(name), json.dumps(data, indent=1) + "\n")

    def read_json(self, name: str, default=None):
        """The JSON file ``name`` of the run, or ``default`` when it does not exist."""
        path = self.file(name)
        if not os.path.exists(path):
            return default
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def read_summary(self) -> dict | None:
        return self.read_json(SUMMARY)

    # --- metrics.jsonl ----------------------------------------------------------------------------------------------

    def append_metrics(self, record: dict) -> None:
        """Append one JSON line; a torn last line left by a killed writer is cut off first (crash rule 2)."""
        self.repair_metrics()
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict]:
        """Every complete line of metrics.jsonl (a torn last line is skipped); [] before the first."""
        return read_jsonl(self.metrics_path)

    def repair_metrics(self) -> bool:
        """Cut a torn last line off metrics.jsonl; returns whether there was one."""
        if not os.path.exists(self.metrics_path):
            return False
        with open(self.metrics_path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0 or (f.seek(size - 1), f.read(1))[1] == b"\n":
                return False
            f.seek(0)
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)
        return True

    def keep_metrics(self, epochs: int) -> None:
        """Keep the lines of the first ``epochs`` epochs only (a resumed run redoes the later ones), atomically."""
        if os.path.exists(self.metrics_path):
            self._rewrite_metrics([r for r in self.read_metrics() if r.get("epoch", -1) <= epochs])

    def keep_metrics_lines(self, count: int) -> None:
        """Keep the first ``count`` lines only, atomically: for a run whose resume point records how many lines it
        had written (kerazoo.rl, whose lines are not per epoch)."""
        if os.path.exists(self.metrics_path):
            self._rewrite_metrics(self.read_metrics()[:count])

    def _rewrite_metrics(self, records: list[dict]) -> None:
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in records))

    # --- checkpoints ------------------------------------------------------------------------------------------------

    def checkpoint_path(self, which: str = "best") -> str:
        return self.file(CHECKPOINTS, f"{which}.keras")

    def save_checkpoint(self, model, which: str = "last") -> str:
        """``model.save`` under a temporary name, renamed to ``checkpoints/WHICH.keras``, then its hash file beside it
        (crash rule 1). Returns the path."""
        path = self.checkpoint_path(which)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_file(path) as tmp:
            model.save(tmp)
        write_sha256(path)
        return path

    def best_record(self) -> dict | None:
        """``checkpoints/best.json``: the monitor, its value and the epoch of ``best.keras``."""
        return self.read_json(os.path.join(CHECKPOINTS, BEST_RECORD))

    def write_best_record(self, record: dict) -> None:
        atomic_write_text(self.file(CHECKPOINTS, BEST_RECORD), json.dumps(record) + "\n")

    def find_checkpoint(self, which: str = "best") -> str:
        """The path of the ``best`` (else ``last``) or ``last`` checkpoint, its hash checked."""
        if which not in CHECKPOINT_NAMES and not which.startswith("snapshot_"):
            raise ValueError(f"Invalid checkpoint {which!r}: choose one of {', '.join(CHECKPOINT_NAMES)}.")
        path = self.checkpoint_path(which)
        if which == "best" and not os.path.exists(path):
            path = self.checkpoint_path("last")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{self.path} has no checkpoint yet ({self.checkpoint_dir} holds no best.keras or "
                                    "last.keras).")
        verify_sha256(path)
        if not zipfile.is_zipfile(path):  # Keras would call it "not found"; without a .sha256 this is the only check
            raise ValueError(f"Checkpoint {path} is corrupt or incomplete: not a .keras (zip) archive, and no "
                             f"{os.path.basename(path)}.sha256 beside it to say more. Train the run again.")
        return path

    def load_model(self, which: str = "best", *, compile: bool = True):
        """The ``best`` (falling back to ``last``) or ``last`` checkpoint as a Keras model, its hash checked. Every
        kerazoo layer, loss and task object is registered first (kerazoo.saving), so any process can load it."""
        path = self.find_checkpoint(which)
        import keras

        from kerazoo import saving

        saving.register_all()
        return keras.saving.load_model(path, safe_mode=True, compile=compile)

    def save_state(self, arrays: dict, meta: dict, which: str = "last") -> None:
        """``checkpoints/WHICH/`` as ``arrays.npz`` + ``meta.json``, for trainers whose state is not one Keras model
        (kerazoo.rl: networks, optimizer, replay buffer, RNG and counters). Built in a temporary folder beside it;
        the old folder is renamed aside before the new one is renamed in, so a kill leaves one whole state or the
        other, never a half-deleted one."""
        final = self.file(CHECKPOINTS, which)
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        tmp = temporary_folder(final)
        try:
            np.savez(os.path.join(tmp, "arrays.npz"), **arrays)
            with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
                json.dump(meta, f)
            old = None
            if os.path.exists(final):
                old = temporary_folder(final, prefix=".old-")
                os.replace(final, os.path.join(old, which))
            os.replace(tmp, final)
            if old:
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def read_state_meta(self, which: str = "last") -> dict | None:
        """``meta.json`` of the state written by :meth:`save_state`, or None before the first one."""
        return self.read_json(os.path.join(CHECKPOINTS, which, "meta.json"))

    def load_state(self, which: str = "last") -> tuple[dict, dict]:
        """(arrays, meta) of the state written by :meth:`save_state`."""
        with np.load(self.file(CHECKPOINTS, which, "arrays.npz")) as data:
            arrays = {k: data[k] for k in data.files}
        return arrays, self.read_state_meta(which)

    # --- backup/ ----------------------------------------------------------------------------------------------------

    def write_backup(self, model, *, epoch: int, arrays: dict | None = None, **facts) -> None:
        """Back up the training state after ``epoch`` epochs (:func:`write_backup` into ``backup/``)."""
        write_backup(self.backup_dir, model, epoch=epoch, arrays=arrays, **facts)

    def read_backup(self, model) -> dict | None:
        """Restore ``backup/`` into ``model`` (:func:`read_backup`); None when the run has no backup."""
        return read_backup(self.backup_dir, model)

    def backed_up_epochs(self) -> int:
        """The epochs the backup names (0 without one): a resumed run starts after them."""
        return backed_up_epochs(self.backup_dir)


BACKUP_METADATA = "training_metadata.json"


def write_backup(folder: str, model, *, epoch: int, arrays: dict | None = None, **facts) -> None:
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


def read_backup(folder: str, model) -> dict | None:
    """Restore the weights (and optimizer state) of :func:`write_backup` into ``model``; returns its metadata with
    the extra arrays under ``"arrays"``, or None when ``folder`` holds no backup."""
    state = _backup_metadata(folder)
    if state is None:
        return None
    optimizer = getattr(model, "optimizer", None)  # None: an uncompiled model
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
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


def read_jsonl(path: str) -> list[dict]:
    """The records of a JSON-lines log appended as metrics.jsonl is (crash rule 2): a torn last line is skipped; []
    when the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # torn: a kill inside the last write
    return [json.loads(line) for line in lines if line.strip()]


def list_runs(root: str | os.PathLike) -> list[RunDir]:
    """Every run directory under ``root`` (a folder with config.yaml; a run's own sub-folders are not searched),
    sorted by path."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"No runs folder {root!r}: pass --root, or train a run first (kerazoo train ... --out "
                                f"{os.path.join(root, 'NAME')}).")
    found = []
    for folder, subfolders, files in os.walk(root):
        if CONFIG in files:
            found.append(folder)
            subfolders.clear()
        subfolders.sort()
    return [RunDir(folder) for folder in sorted(found)]
