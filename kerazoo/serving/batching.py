"""Server-side dynamic batching: concurrent requests for the same signature run as one model call.

A :class:`Batcher` serves one loaded model version. ``submit`` queues a request's inputs (arrays that share their
first, batch, dimension) under a key made of the signature and the inputs' dtypes and trailing shapes, then waits.
Worker threads (``num_batch_threads``) take the oldest queue, wait until it holds ``max_batch_size`` rows or its
first request is ``batch_timeout_micros`` old, concatenate up to ``max_batch_size`` rows, run the model once, and
hand each request its slice of the outputs. While one batch runs, another thread starts a batch only once half of
``max_batch_size`` rows are queued (or the running one ends): a model call has a fixed cost (ResNet-20 on two
cores: ~3.8 ms of CPU a call besides ~1.04 ms an image), which small batches beside a running one would pay often.
If a batched call fails, its requests are retried one by one, so one bad request cannot fail the others. A full
queue rejects new work with UNAVAILABLE; after :meth:`close` the queue drains and late requests run directly, which
is what makes a hot swap lose no request.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from kerazoo.serving.config import BatchingOptions
from kerazoo.serving.errors import ServingError, from_exception

log = logging.getLogger("kerazoo.serving")

Arrays = dict[str, np.ndarray]
RunFn = Callable[[str, Arrays], Arrays]


class _Task:
    """One request in the queue. Its waiter blocks on a lock the task holds until it is finished: one lock per
    request, where a threading.Event costs a Condition, two locks and a list."""

    __slots__ = ("inputs", "size", "enqueued", "finished", "result", "error", "_done")

    def __init__(self, inputs: Arrays, size: int):
        self.inputs = inputs
        self.size = size
        self.enqueued = time.monotonic()
        self.finished = False
        self.result: Arrays | None = None
        self.error: BaseException | None = None
        self._done = threading.Lock()
        self._done.acquire()

    def finish(self, result: Arrays | None = None, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.result, self.error = result, error
        self.finished = True
        self._done.release()

    def wait(self) -> None:
        self._done.acquire()


class Batcher:
    """Batches calls of ``run(signature_key, inputs) -> outputs`` across threads.

    Args:
        run: runs one signature on a dict of arrays and returns a dict of arrays.
        options: the batching parameters.
        name: for logs and thread names.
        on_batch: called with each executed batch's row count (for metrics).
        on_queue_delay: called with the seconds each request waited in the queue before its batch started.
    """

    def __init__(self, run: RunFn, options: BatchingOptions, *, name: str = "model",
                 on_batch: Callable[[int], None] | None = None,
                 on_queue_delay: Callable[[float], None] | None = None):
        self._run = run
        self.options = options
        self.name = name
        self._on_batch = on_batch
        self._on_queue_delay = on_queue_delay
        self._cond = threading.Condition()
        self._queues: dict[tuple, collections.deque[_Task]] = {}
        self._pending = 0
        self._running = 0  # batches executing now
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{name}-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pending_rows(self) -> int:
        return self._pending

    def submit(self, signature_key: str, inputs: Arrays) -> Arrays:
        """Run ``inputs`` through the signature as part of a batch; blocks until the outputs are ready."""
        size = _batch_size(inputs)
        if size is None or size == 0 or size > self.options.max_batch_size or self._closed:
            return self._run(signature_key, inputs)  # cannot (or need not) batch: run on its own
        key = (signature_key, tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items())))
        task = _Task(inputs, size)
        with self._cond:
            if self._closed:
                task = None
            else:
                limit = self.options.max_enqueued_batches * self.options.max_batch_size
                if self._pending + size > limit:
                    raise ServingError("UNAVAILABLE",
                                       "The batch scheduling queue to which this task was submitted is full")
                self._queues.setdefault(key, collections.deque()).append(task)
                self._pending += size
                self._cond.notify()
        if task is None:
            return self._run(signature_key, inputs)
        task.wait()
        # Take the outcome out of the task: an error's traceback holds the frames that hold the task, a cycle that
        # would keep the request's inputs (megabytes) alive until the next full garbage collection.
        error, result = task.error, task.result
        task.error = task.result = task.inputs = None
        if error is not None:
            try:
                raise error
            finally:
                del error
        return result

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking work into the queue; queued requests still run. Waits up to ``timeout`` for the workers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        current = threading.current_thread()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))

    # -- workers ---------------------------------------------------------------------------------------------

    def _take(self) -> tuple[str, list[_Task]] | None:
        timeout_s = self.options.batch_timeout_micros / 1e6
        max_rows = self.options.max_batch_size
        with self._cond:
            while True:
                if not self._queues:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                key, queue = min(self._queues.items(), key=lambda item: item[1][0].enqueued)
                rows = sum(task.size for task in queue)
                wait = queue[0].enqueued + timeout_s - time.monotonic()
                if rows < max_rows and wait > 0 and not self._closed:
                    self._cond.wait(wait)
                    continue
                if self._running and rows < max_rows // 2 and not self._closed:
                    # Another batch is running: a second one of a few rows would cost a model call's fixed time
                    # for little; wait until it finishes or half a batch is queued.
                    self._cond.wait()
                    continue
                batch, total = [], 0
                while queue and total + queue[0].size <= max_rows:
                    task = queue.popleft()
                    batch.append(task)
                    total += task.size
                if not queue:
                    del self._queues[key]
                self._pending -= total
                self._running += 1
                if self._on_queue_delay:
                    now = time.monotonic()
                    for task in batch:
                        self._on_queue_delay(now - task.enqueued)
                return key[0], batch

    def _work(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            signature_key, batch = taken
            try:
                self._execute(signature_key, batch)
            except BaseException as error:  # never lose a waiting request
                log.exception("batch for %s failed unexpectedly", self.name)
                for task in batch:
                    if not task.finished:
                        task.finish(error=from_exception(error))
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _execute(self, signature_key: str, batch: list[_Task]) -> None:
        if len(batch) == 1:
            self._run_one(signature_key, batch[0])
            return
        sizes = [task.size for task in batch]
        total = sum(sizes)
        padded = self._padded_size(total)
        inputs = {}
        for name in batch[0].inputs:
            parts = [task.inputs[name] for task in batch]
            if padded > total:  # repeat the first row as padding; its outputs are dropped
                parts.append(np.repeat(parts[0][:1], padded - total, axis=0))
            inputs[name] = np.concatenate(parts, axis=0)
        try:
            outputs = self._run(signature_key, inputs)
        except Exception as error:
            log.debug("batch of %d requests failed (%s); running them one by one", len(batch), error)
            for task in batch:
                self._run_one(signature_key, task)
            return
        if any(np.ndim(v) == 0 or np.shape(v)[0] != padded for v in outputs.values()):
            for task in batch:  # an output without the batch dimension cannot be split
                self._run_one(signature_key, task)
            return
        if self._on_batch:
            self._on_batch(total)
        start = 0
        for task in batch:
            end = start + task.size
            task.finish({k: v[start:end] for k, v in outputs.items()})
            start = end

    def _run_one(self, signature_key: str, task: _Task) -> None:
        try:
            result = self._run(signature_key, task.inputs)
        except Exception as error:
            task.finish(error=from_exception(error))
            return
        if self._on_batch:
            self._on_batch(task.size)
        task.finish(result)

    def _padded_size(self, total: int) -> int:
        for size in self.options.allowed_batch_sizes:
            if size >= total:
                return size
        return total


def _batch_size(inputs: Arrays) -> int | None:
    """The shared first dimension of all inputs, or None if they have none or disagree."""
    sizes = {np.shape(v)[0] if np.ndim(v) > 0 else None for v in inputs.values()}
    if len(sizes) != 1:
        return None
    return sizes.pop()
