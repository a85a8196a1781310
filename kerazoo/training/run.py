"""``train(config, out)``: the training service behind ``kerazoo train``, and the run directory it writes.

Run directory (``runs/NAME/``): ``config.yaml`` (resolved), ``dataset.json`` (shape, classes, normalization),
``metrics.jsonl`` (one JSON line per epoch), ``checkpoints/{best,last}.keras`` (+ ``.sha256``; written to a temp name,
then renamed), ``backup/`` (BackupAndRestore, present only while a run is unfinished: removed after summary.json is
written), ``tb/`` (TensorBoard), ``curves.png`` and ``summary.json`` (written last: its presence means the run
completed). Each epoch's metrics line (and, without weight averaging, its checkpoints) is written before its backup,
so a killed run loses no work (docs/training.md, "The order that loses no work").

Every model trained here takes raw pixels (0-255) and returns logits: the normalization by the training split's
mean and standard deviation is the model's first layer, so export and serving need no preprocessing code.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import time
import zipfile

import keras

from kerazoo import datasets
from kerazoo.applications.common import verify_sha256
from kerazoo.applications.registry import load_plugins
from kerazoo.io import atomic_write_text
from kerazoo.training import callbacks as cb
from kerazoo.training import speed, transfer
from kerazoo.training.averaging import averaging_callbacks
from kerazoo.training.config import TrainConfig, config_from_dict, config_to_dict
from kerazoo.training.profile import trace_batches, where_time_goes
from kerazoo.training.schedules import EpochSchedule
from kerazoo.training.strategy import SHARD_POLICY, describe, is_chief, make_strategy, shard_by_data, task_name
from kerazoo.training.tasks import task_for_config

import yaml


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    opt = config.optimizer
    lr = opt.lr * config.data.batch_size / opt.base_batch_size  # linear scaling rule
    schedule = EpochSchedule(
        lr, steps_per_epoch, config.epochs, kind=config.schedule.name, warmup_epochs=config.schedule.warmup_epochs,
        step_epochs=config.schedule.step_epochs, step_factor=config.schedule.step_factor,
        restart_epochs=config.schedule.restart_epochs, restart_mult=config.schedule.restart_mult,
    )
    if transfer.uses_phases(config):  # phase 2 (the whole pretrained network) at a lower rate
        schedule = transfer.PhasedSchedule(schedule, config.transfer.head_epochs * steps_per_epoch,
                                           config.transfer.lr_factor)
    common = {"learning_rate": schedule, "weight_decay": opt.weight_decay or None, "clipnorm": opt.clipnorm}
    if opt.name == "sgd":
        optimizer = keras.optimizers.SGD(momentum=opt.momentum, nesterov=opt.nesterov, **common)
    elif opt.name == "adam":
        optimizer = keras.optimizers.Adam(**common)
    elif opt.name == "adamw":
        optimizer = keras.optimizers.AdamW(**{**common, "weight_decay": opt.weight_decay})
    else:
        optimizer = keras.optimizers.RMSprop(momentum=opt.momentum, **common)
    if opt.weight_decay:
        # Decay the kernels only: decaying BatchNorm scales/offsets and biases hurts (Goyal et al., 2017).
        optimizer.exclude_from_weight_decay(var_names=["_bn", "bias", "beta", "gamma", "normalize"])
    return optimizer


def check_run_dir(run_dir: str, config: dict, *, overwrite: bool = False) -> bool:
    """Whether training ``config`` (as written to config.yaml) into ``run_dir`` resumes an interrupted run there.

    Refuses to clobber a finished run (its summary.json written) and to resume with a different config;
    ``overwrite`` deletes whatever the folder holds. Every trainer (classifiers, char-RNN, captioner) calls it first.
    """
    config_path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(config_path):
        return False
    if overwrite:
        shutil.rmtree(run_dir)
        return False
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        shutil.rmtree(os.path.join(run_dir, "backup"), ignore_errors=True)  # left by a kill just after the summary
        raise FileExistsError(
            f"Run {run_dir} is already complete. Pass --overwrite (overwrite=True) to replace it, or choose another "
            "--out."
        )
    saved = read_run_config(run_dir)
    saved.pop("resolved", None)  # what the run chose (speed settings, stream start), written beside its config
    changed = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if changed:
        raise ValueError(
            f"Run {run_dir} was started with a different config (fields {', '.join(changed)} differ). "
            "Rerun with the same arguments to resume, pass --overwrite (overwrite=True) to restart, or choose another "
            "--out."
        )
    return True


def train(config: TrainConfig, out: str, *, overwrite: bool = False, extra_callbacks=(), verbose: int = 1,
          profile: bool = False) -> str:
    """Train ``config`` into the run directory ``out``; resume it if an earlier attempt was interrupted.

    The speed settings (XLA, steps per execution, precision, threads, fused batch norm) are resolved here and recorded
    under ``resolved.speed`` in ``config.yaml`` (kerazoo.training.speed). ``profile``: write a TensorBoard trace of a
    few steps to ``tb/`` and print where the time goes (``profile.json``; kerazoo.training.profile).

    Returns:
        The run directory.
    """
    import tensorflow as tf

    run_dir = os.path.abspath(out)
    chief = is_chief()  # only the chief writes the run directory; other workers only read its backup
    resuming = check_run_dir(run_dir, config_to_dict(config), overwrite=overwrite) if chief else False
    if chief:
        os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)

    threads = speed.configure_threads(config.threads, config.speed)  # before TensorFlow starts its thread pools
    # Seeding: one place. Deterministic ops make a seeded single-worker CPU run repeat bit for bit.
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    precision = speed.resolve_precision(config.precision, config.speed)
    keras.mixed_precision.set_global_policy(precision[0])

    task = task_for_config(config)
    strategy = make_strategy(config.strategy)
    info = task.dataset_info(config)
    if config.model.init_from:  # before the data pipelines: a wrong run is a config error, found at once
        check_init_from(config.model.init_from, config, info)
    if config.model.weights and task.name != "classification":
        raise ValueError(f"Invalid model.weights={config.model.weights!r}: pretrained weights start classifiers; "
                         f"{config.model.name!r} is a {task.name} model (dense heads take model.backbone_weights).")
    if config.model.backbone_weights and task.name == "classification":
        raise ValueError(f"Invalid model.backbone_weights={config.model.backbone_weights!r}: {config.model.name!r} is "
                         "a classifier; its pretrained weights are model.weights (--weights).")
    backup_dir = os.path.join(run_dir, "backup")
    data_config = config
    if config.data.stream:  # a resumed run goes on with the scenes after those of its backed-up epochs
        start = stream_start(config)
        drawn = cb.backed_up_epochs(backup_dir) * config.steps_per_epoch * config.data.batch_size
        data_config = dataclasses.replace(config, data=dataclasses.replace(config.data, stream_start=start + drawn))
    train_ds, val_ds = (shard_by_data(ds) for ds in task.pipelines(data_config, strategy.num_replicas_in_sync))
    steps_per_epoch = int(train_ds.cardinality())
    if config.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch) if steps_per_epoch > 0 else config.steps_per_epoch
        train_ds = train_ds.repeat()
    if task.endless:  # a resumed run goes on with the batches after those of its backed-up epochs
        train_ds = train_ds.skip(cb.backed_up_epochs(backup_dir) * steps_per_epoch)

    with strategy.scope():
        source = config.model.init_from
        model = load_run_model(source, compile=False) if source else task.build(config, info)
        trainer = task.trainer(model, config)
    batch_norm = speed.use_fused_batch_norm(config.fused_batch_norm, model, config.speed)

    monitor = task.monitor if val_ds is not None else task.monitor.removeprefix("val_")
    averaging = averaging_callbacks(config, run_dir, model, steps_per_epoch)  # EMA/Polyak, SGDR snapshots
    states = {"averaging": c for c in averaging if hasattr(c, "get_state")}  # backed up with the weights
    backup = cb.AtomicBackupAndRestore(backup_dir, chief=chief, worker=task_name(), states=states)
    # An epoch's metrics line (and, without weight averaging, its checkpoints) are written before the backup names
    # the epoch: a process killed in between redoes the epoch rather than skip what it had not written. The averaging
    # callbacks follow the backup, which keeps the training weights, and swap in the average for the checkpoints.
    callbacks = [cb.MetricsLogger(os.path.join(run_dir, "metrics.jsonl"))] if chief else []
    checkpoints = [
        cb.Heartbeat(run_dir),
        cb.AtomicCheckpoint(os.path.join(run_dir, "checkpoints"), monitor=monitor, mode=task.mode, model=model),
    ] if chief else []
    if averaging:
        callbacks += [backup, *averaging, *checkpoints]
    else:
        callbacks += [*checkpoints, backup]
    callbacks += task.callbacks(model, config, run_dir)
    callbacks += list(extra_callbacks)
    fast, jit, steps = speed.resolve_compile_settings(config, model, train_ds, steps_per_epoch, callbacks,
                                                      replicas=strategy.num_replicas_in_sync)
    if chief:
        trace = trace_batches(steps_per_epoch // steps[0]) if profile else 0
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "tb"), profile_batch=trace))
    with strategy.scope(), speed.quiet_jit_warning():
        task.compile(trainer, fast, make_optimizer(config, steps_per_epoch))
    speed.force_jit_compile(trainer, jit[0])

    if chief:
        resolved = {
            **config_to_dict(config),
            "resolved": {
                "strategy": describe(strategy),
                "global_batch_size": config.data.batch_size,
                "per_replica_batch_size": config.data.batch_size // strategy.num_replicas_in_sync,
                "shard_policy": SHARD_POLICY,
                "lr": config.optimizer.lr * config.data.batch_size / config.optimizer.base_batch_size,
                "steps_per_epoch": steps_per_epoch,
                "resumed": resuming,
                **({"stream_start": start} if config.data.stream else {}),
                "speed": speed.speed_record(threads, precision, jit, steps, batch_norm),
            },
        }
        atomic_write_text(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(resolved, sort_keys=False))
        atomic_write_text(os.path.join(run_dir, "dataset.json"), json.dumps(dataclasses.asdict(info), indent=1))

    start = time.time()
    trainer.fit(
        train_ds, validation_data=val_ds, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
        callbacks=callbacks, verbose=verbose, shuffle=False,  # the pipeline shuffles (seeded)
    )
    elapsed = time.time() - start
    if chief:
        cb.plot_curves(os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "curves.png"))
        # The figures of the checkpoint that `evaluate`, `export` and the model cards use (best, else last), so
        # `kerazoo evaluate RUN` reproduces them.
        test = task.evaluate(load_run_model(run_dir), config)
        summary = {"epochs": config.epochs, "train_seconds_this_attempt": round(elapsed, 2), **test}
        best_json = os.path.join(run_dir, "checkpoints", "best.json")
        if os.path.exists(best_json):
            with open(best_json, encoding="utf-8") as f:
                summary["best"] = json.load(f)
        cb.finish_run(run_dir, summary)  # summary.json, then backup/ removed: a kill before resumes at the evaluation
        if profile:  # after the run's files are final: the timing steps below move the in-memory weights
            print(where_time_goes(trainer, train_ds, steps[0], run_dir))
    return run_dir


def check_init_from(source: str, config: TrainConfig, info: datasets.DatasetInfo) -> None:
    """``model.init_from``: whether run ``source``'s best (else last) checkpoint can start this config's model.

    A second schedule restarted from a finished one (a warm restart, Loshchilov & Hutter, 2017) trains an
    under-fitted run further without running its schedule again from the start. The run must have trained the same
    model (name, kwargs, input_size) on images of the same shape and number of classes; a difference is a ValueError
    naming it. Its first layers (the pixel normalization it learnt with) come along unchanged.
    """
    if config.model.backbone_from:
        raise ValueError("Invalid config: model.init_from and model.backbone_from exclude each other (init_from starts "
                         "every weight, the backbone's too, from its run).")
    theirs = load_run_config(source).model
    for name in ("name", "kwargs", "input_size"):
        if getattr(theirs, name) != getattr(config.model, name):
            raise ValueError(f"Invalid model.init_from={source!r}: that run trained model.{name}="
                             f"{getattr(theirs, name)!r}, this config has {getattr(config.model, name)!r}; init_from "
                             f"trains the same model further.")
    their_info = load_run_info(source)
    for name in ("image_shape", "num_classes"):
        if getattr(their_info, name) != getattr(info, name):
            raise ValueError(f"Invalid model.init_from={source!r}: that run's data has {name} "
                             f"{getattr(their_info, name)!r}, {config.data.dataset!r} has {getattr(info, name)!r}.")


def stream_start(config: TrainConfig) -> int:
    """The first scene of ``data.stream`` this run trains on: ``data.stream_start``, else 0, else (with
    ``model.init_from``) the scene after the last one drawn by that run and the runs it was started from."""
    if config.data.stream_start is not None:
        return config.data.stream_start
    return stream_end(config.model.init_from, config.seed) if config.model.init_from else 0


def stream_end(run_dir: str, seed: int) -> int:
    """The scene after the last one that run ``run_dir``, and the runs it was started from (``model.init_from``),
    drew from seed ``seed``'s training stream; 0 when none did (a pool's scenes are never in the stream)."""
    saved = read_run_config(run_dir)
    data, resolved = saved["data"], saved.get("resolved", {})
    end = 0
    if data.get("stream") and saved.get("seed") == seed:
        end = resolved.get("stream_start", 0) + saved["epochs"] * resolved["steps_per_epoch"] * data["batch_size"]
    source = saved["model"].get("init_from")
    if source and os.path.exists(os.path.join(source, "config.yaml")):  # runs that did not record their start began at 0
        end = max(end, stream_end(source, seed))
    return end


def evaluate_model(model: keras.Model, config: TrainConfig, *, split: str | None = None, limit: int | None = None) -> dict:
    """The task's figures (loss and accuracy for classifiers) of a run's model on a split (default: the test split)."""
    return task_for_config(config).evaluate(model, config, split=split, limit=limit)


def read_run_config(run_dir: str) -> dict:
    """A run's config.yaml as written: its config, and under ``resolved`` what the run chose (speed, stream start)."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a kerazoo run directory: it has no config.yaml.")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_run_config(run_dir: str) -> TrainConfig:
    data = read_run_config(run_dir)
    data.pop("resolved", None)
    return config_from_dict(data)


def load_run_model(run_dir: str, which: str = "best", *, compile: bool = True) -> keras.Model:
    """The ``best`` (or ``last``) checkpoint of a run, its hash checked; falls back to ``last`` when no best exists."""
    folder = os.path.join(run_dir, "checkpoints")
    path = os.path.join(folder, f"{which}.keras")
    if which == "best" and not os.path.exists(path):
        path = os.path.join(folder, "last.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} has no checkpoint yet ({folder} holds no best.keras or last.keras).")
    verify_sha256(path)
    if not zipfile.is_zipfile(path):  # Keras would call it "not found"; without a .sha256 this is the only check
        raise ValueError(f"Checkpoint {path} is corrupt or incomplete: not a .keras (zip) archive, and no "
                         f"{os.path.basename(path)}.sha256 beside it to say more. Train the run again.")
    importlib.import_module("kerazoo.losses")  # registers the losses a checkpoint's compile config may name
    load_plugins()  # registers the task packages' layers (a detector's BoxDecoder) in a process that trained nothing
    return keras.saving.load_model(path, safe_mode=True, compile=compile)


def load_run_info(run_dir: str) -> datasets.DatasetInfo:
    with open(os.path.join(run_dir, "dataset.json"), encoding="utf-8") as f:
        data = json.load(f)
    return datasets.DatasetInfo(**{**data, "image_shape": tuple(data["image_shape"]),
                                   "class_names": tuple(data["class_names"]), "mean": tuple(data["mean"]),
                                   "std": tuple(data["std"])})
