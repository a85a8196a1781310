"""``train(config, out)``: the training service behind ``kerazoo train``.

It writes the run directory (``runs/NAME/``) through :class:`kerazoo.runs.RunDir`, whose docstring gives the layout
and the crash rules. An epoch ends with its metrics line, the weight-average state, the checkpoints, then the backup
naming the epoch, so a killed run loses no work (docs/training.md, "The order that loses no work"); each epoch's
batches depend on the seed and the epoch alone, so a redone epoch repeats the uninterrupted run's.

Every model trained here takes raw pixels (0-255) and returns logits: the normalization by the training split's
mean and standard deviation is the model's first layer, so export and serving need no preprocessing code.
"""

from __future__ import annotations

import dataclasses
import time

import keras

from kerazoo import datasets
from kerazoo.runs import RunDir
from kerazoo.training import callbacks as cb
from kerazoo.training import speed, transfer
from kerazoo.training.averaging import averaging_callbacks
from kerazoo.training.config import TrainConfig, config_from_dict, config_to_dict
from kerazoo.training.profile import trace_batches, where_time_goes
from kerazoo.training.schedules import EpochSchedule
from kerazoo.training.strategy import SHARD_POLICY, describe, is_chief, make_strategy, shard_by_data, task_name
from kerazoo.training.tasks import task_for_config


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
    """Whether training ``config`` (as written to config.yaml) into ``run_dir`` resumes an interrupted run there;
    refuses a finished run and another config (:meth:`kerazoo.runs.RunDir.prepare`, which this wraps for the trainers
    that call it first: classifiers, char-RNN, captioner)."""
    return RunDir(run_dir).prepare(config, overwrite=overwrite)


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

    run = RunDir(out)
    run_dir = run.path
    chief = is_chief()  # only the chief writes the run directory; other workers only read its backup
    resuming = run.prepare(config_to_dict(config), overwrite=overwrite) if chief else False

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
    backup_dir = run.backup_dir
    done = run.backed_up_epochs()  # the epochs a resumed run skips (every worker reads the chief's backup)
    data_config = config
    if config.data.stream:  # a resumed run goes on with the scenes after those of its backed-up epochs
        start = stream_start(config)
        drawn = done * config.steps_per_epoch * config.data.batch_size
        data_config = dataclasses.replace(config, data=dataclasses.replace(config.data, stream_start=start + drawn))
    train_ds, val_ds = (shard_by_data(ds) for ds in task.pipelines(data_config, strategy.num_replicas_in_sync))
    steps_per_epoch = int(train_ds.cardinality())
    if config.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch) if steps_per_epoch > 0 else config.steps_per_epoch
        train_ds = train_ds.repeat()
    train_ds = skip_epochs(train_ds, done, steps_per_epoch if config.steps_per_epoch and not config.data.stream else 0)

    with strategy.scope():
        source = config.model.init_from
        model = load_run_model(source, compile=False) if source else task.build(config, info)
        trainer = task.trainer(model, config)
    batch_norm = speed.use_fused_batch_norm(config.fused_batch_norm, model, config.speed)

    monitor = task.monitor if val_ds is not None else task.monitor.removeprefix("val_")
    averaging = averaging_callbacks(config, run_dir, model, steps_per_epoch)  # EMA/Polyak, SGDR snapshots
    states = {"averaging": c for c in averaging if hasattr(c, "get_state")}  # backed up with the weights
    backup = cb.AtomicBackupAndRestore(backup_dir, chief=chief, worker=task_name(), states=states)
    # An epoch ends with its metrics line, the averaging state (swapping the average in), the checkpoints (of the
    # average), then the backup naming the epoch (of the training weights: WeightAveraging.training_weights), so a
    # process killed anywhere in between redoes the epoch rather than skip what it had not written (kerazoo.runs,
    # crash rule 3).
    callbacks = [cb.MetricsLogger(run.metrics_path)] if chief else []
    checkpoints = [
        cb.Heartbeat(run_dir),
        cb.AtomicCheckpoint(run.checkpoint_dir, monitor=monitor, mode=task.mode, model=model),
    ] if chief else []
    callbacks += [*averaging, *checkpoints, backup]
    callbacks += task.callbacks(model, config, run_dir)
    callbacks += list(extra_callbacks)
    fast, jit, steps = speed.resolve_compile_settings(config, model, train_ds, steps_per_epoch, callbacks,
                                                      replicas=strategy.num_replicas_in_sync)
    if chief:
        trace = trace_batches(steps_per_epoch // steps[0]) if profile else 0
        callbacks.append(keras.callbacks.TensorBoard(run.file("tb"), profile_batch=trace))
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
        run.write_config(resolved)
        run.write_json("dataset.json", dataclasses.asdict(info))

    start = time.time()
    trainer.fit(
        train_ds, validation_data=val_ds, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
        callbacks=callbacks, verbose=verbose, shuffle=False,  # the pipeline shuffles (seeded)
    )
    elapsed = time.time() - start
    if chief:
        cb.plot_curves(run.metrics_path, run.file("curves.png"))
        # The figures of the checkpoint that `evaluate`, `export` and the model cards use (best, else last), so
        # `kerazoo evaluate RUN` reproduces them.
        test = task.evaluate(run.load_model(), config)
        summary = {"epochs": config.epochs, "train_seconds_this_attempt": round(elapsed, 2), **test}
        best = run.best_record()
        if best is not None:
            summary["best"] = best
        run.finish(summary)  # summary.json, then backup/ removed: a kill before resumes at the evaluation
        if profile:  # after the run's files are final: the timing steps below move the in-memory weights
            print(where_time_goes(trainer, train_ds, steps[0], run_dir))
    return run_dir


def skip_epochs(train_ds, epochs: int, steps_per_epoch: int = 0):
    """``train_ds`` as it stands after ``epochs`` epochs of an uninterrupted run, so a resumed run draws the batches
    that run drew (the shuffle is keyed by the epoch, not by the process).

    Each epoch of ``fit`` iterates the dataset afresh and each new iterator draws the next shuffle order, so creating
    (and dropping) ``epochs`` iterators moves it to the order of epoch ``epochs + 1`` without reading data. A repeated
    dataset (``steps_per_epoch``: one iterator runs through all epochs) is skipped batch by batch instead, which reads
    (and augments) those batches once more.
    """
    if epochs <= 0:
        return train_ds
    if steps_per_epoch:
        return train_ds.skip(epochs * steps_per_epoch)
    for _ in range(epochs):
        iter(train_ds)
    return train_ds


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
    if source and RunDir(source).exists():  # runs that did not record their start began at 0
        end = max(end, stream_end(source, seed))
    return end


def evaluate_model(model: keras.Model, config: TrainConfig, *, split: str | None = None, limit: int | None = None) -> dict:
    """The task's figures (loss and accuracy for classifiers) of a run's model on a split (default: the test split)."""
    return task_for_config(config).evaluate(model, config, split=split, limit=limit)


def read_run_config(run_dir: str) -> dict:
    """A run's config.yaml as written: its config, and under ``resolved`` what the run chose (speed, stream start)
    (:meth:`kerazoo.runs.RunDir.read_config`)."""
    return RunDir(run_dir).read_config()


def load_run_config(run_dir: str) -> TrainConfig:
    """A run's config as a :class:`TrainConfig` (what it chose under ``resolved`` left out)."""
    data = read_run_config(run_dir)
    data.pop("resolved", None)
    return config_from_dict(data)


def load_run_model(run_dir: str, which: str = "best", *, compile: bool = True) -> keras.Model:
    """The ``best`` (or ``last``) checkpoint of a run, its hash checked; falls back to ``last`` when no best exists
    (:meth:`kerazoo.runs.RunDir.load_model`)."""
    return RunDir(run_dir).load_model(which, compile=compile)


def load_run_info(run_dir: str) -> datasets.DatasetInfo:
    """A run's ``dataset.json``: the shape, classes and normalization of the data it trained on."""
    run = RunDir(run_dir)
    data = run.read_json("dataset.json")
    if data is None:
        raise FileNotFoundError(f"{run.path} has no dataset.json: it is not a run of kerazoo's training service.")
    return datasets.DatasetInfo(**{**data, "image_shape": tuple(data["image_shape"]),
                                   "class_names": tuple(data["class_names"]), "mean": tuple(data["mean"]),
                                   "std": tuple(data["std"])})
