"""Where a training step's time goes: ``kerazoo train ... --profile``.

Two things, both after the run's files are written:
- a TensorBoard trace of a few training steps in ``RUN/tb/`` (Keras' ``TensorBoard(profile_batch=...)``, i.e. the
  TensorFlow profiler; open it with ``tensorboard --logdir RUN/tb`` → Profile, which needs the
  ``tensorboard-plugin-profile`` package to view);
- the input pipeline timed alone and the compiled training step timed alone on one cached batch, printed and kept in
  ``RUN/profile.json``. When the pipeline alone is slower than the step, the step starves: augment less, cache, or
  give tf.data more cores; otherwise the model's compute is the limit.
"""

from __future__ import annotations

import os
import statistics
import time

from kerazoo.runs import RunDir

INPUT_BATCHES = 20
"""Batches of the pipeline timed after the first (which fills buffers)."""
COMPUTE_WINDOWS = 3


def trace_batches(executions_per_epoch: int) -> tuple[int, int] | int:
    """Keras ``profile_batch`` for a few executions of the first epoch, skipping the first (tracing and compiling)."""
    if executions_per_epoch < 2:
        return (1, 1) if executions_per_epoch == 1 else 0
    return (2, min(4, executions_per_epoch))


def time_input(dataset, batches: int = INPUT_BATCHES) -> float:
    """Seconds per batch of ``dataset`` iterated alone (a fresh iterator: the training one is not touched)."""
    iterator = iter(dataset)
    next(iterator)
    start, count = time.perf_counter(), 0
    for _ in range(batches):
        try:
            next(iterator)
        except StopIteration:
            break
        count += 1
    return (time.perf_counter() - start) / max(count, 1)


def time_compute(trainer, dataset, steps_per_execution: int, windows: int = COMPUTE_WINDOWS) -> float:
    """Seconds per step of the trainer's compiled training function on one cached batch (no input work left).

    This runs real optimizer steps, so call it only once the run's checkpoints are written.
    """
    cached = dataset.take(1).cache().repeat()
    steps = steps_per_execution * max(1, 4 // steps_per_execution)
    trainer.fit(cached, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)  # warm-up: may retrace
    seconds = []
    for _ in range(windows):
        start = time.perf_counter()
        trainer.fit(cached, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        seconds.append((time.perf_counter() - start) / steps)
    return statistics.median(seconds)


def where_time_goes(trainer, dataset, steps_per_execution: int, run_dir: str | None = None) -> str:
    """Time the pipeline and the compiled step apart, write ``run_dir/profile.json`` and return a report."""
    input_s = time_input(dataset)
    compute_s = time_compute(trainer, dataset, steps_per_execution)
    batch = int(next(iter(dataset))[0].shape[0]) if isinstance(dataset.element_spec, tuple) else None
    bound = "input pipeline" if input_s > compute_s else "compute"
    record = {
        "input_ms_per_batch": round(1000 * input_s, 2),
        "compute_ms_per_step": round(1000 * compute_s, 2),
        "steps_per_execution": steps_per_execution,
        "jit_compile": bool(trainer.jit_compile),
        "bound_by": bound,
        "batch_size": batch,
    }
    if run_dir:
        RunDir(run_dir).write_json("profile.json", record)
    lines = [
        "where the time goes (each timed alone):",
        f"  input pipeline   {record['input_ms_per_batch']:9.2f} ms/batch",
        f"  training step    {record['compute_ms_per_step']:9.2f} ms/step  (XLA {'on' if record['jit_compile'] else 'off'},"
        f" {steps_per_execution} steps per execution, cached batch)",
        f"  bound by: {bound}"
        + (" - the step waits for data: cache, augment less, or give tf.data more cores" if bound != "compute" else ""),
    ]
    if run_dir:
        lines.append(f"  trace: tensorboard --logdir {os.path.join(run_dir, 'tb')} (Profile tab); figures: "
                     f"{os.path.join(run_dir, 'profile.json')}")
    return "\n".join(lines)
