"""``kerazoo serve --workers N``: N server processes on the same ports, so requests spread over N interpreters.

One server process answers REST and gRPC from Python threads that share one GIL: grpcio's and the handlers' Python
work (~0.3 ms a request on the 2-core VM) and the batch threads contend for it, and on a machine with many cores a
single process cannot use them for a small model. Each worker here is a whole server (:func:`serve`): it loads every
model and binds the same ports with SO_REUSEPORT (Linux), so the kernel spreads *connections* over the workers (a
client that keeps one HTTP/2 connection talks to one worker). :class:`WorkerPool`, in the ``kerazoo serve``
process, reserves the ports, starts the workers, starts a worker again when one dies, and stops them all.

What differs from one process:

- TensorFlow's intra-op threads default to ``cores // N`` per worker and batch threads to ``min(2, cores // N)``:
  the model's threads of all workers together match the cores (BENCHMARKS.md measures the split).
- metrics: each worker publishes its values to a shared folder twice a second; a scrape (which reaches one worker)
  renders the sum over all of them (:class:`~kerazoo.serving.metrics.SharedMetrics`). A worker started again
  counts from zero, as a restarted server does (Prometheus reads the drop as a counter reset).
- gRPC HandleReloadConfigRequest answers FAILED_PRECONDITION (it would reach one worker); every worker polls the
  ``--model-config-file`` and the version folders itself.
- memory: every worker holds its own copy of the models.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import shutil
import signal
import socket
import tempfile
import threading
import time

from kerazoo.serving.config import WorkerSlot, host_port
from kerazoo.serving.metrics import ServingMetrics, read_shared_metrics

log = logging.getLogger("kerazoo.serving")

RESTART_LIMIT = 3  # deaths of workers within RESTART_WINDOW_S that stop the pool instead of another restart
RESTART_WINDOW_S = 60.0


def default_intra_op_threads(workers: int) -> int:
    """TensorFlow intra-op threads for each of ``workers`` processes: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // workers)


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with SO_REUSEPORT that never listens: it takes no connections but keeps the
    port for the workers (port 0: the kernel picks a free one, read it from ``getsockname``). A port another
    server listens on is refused first, as SO_REUSEPORT would otherwise share it with that server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(f"{host}:{port} is not available ({error.strerror})") from None
        if port == 0:
            port = probe.getsockname()[1]
    reserved = socket.socket(family, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reserved.bind((host, port))
    except OSError as error:
        reserved.close()
        raise OSError(f"{host}:{port} is not available ({error.strerror})") from None
    return reserved


def _worker_main(slot: WorkerSlot, serve_kwargs: dict, events, stop, log_level: int) -> None:
    """One worker process: serve until ``stop`` (the read end of a pipe only the pool's process writes to) ends,
    which happens when the pool stops and also when its process dies, or until SIGTERM arrives. A pipe, not a
    multiprocessing.Event: a worker killed while it held the Event's lock would block every other process on it."""
    from kerazoo.serving.server import serve

    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s worker {slot.index}: %(message)s")

    # Ctrl-C in a terminal reaches the whole process group: the pool stops the workers in order instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminated.set())
    try:
        server = serve(**serve_kwargs, worker=slot)
    except Exception as error:  # the pool raises it again: a bad flag reads as it does with one process
        try:
            pickle.dumps(error)
        except Exception:  # noqa: BLE001 - an exception that cannot travel goes as its text
            error = RuntimeError(f"{type(error).__name__}: {error}")
        events.put((slot.index, os.getpid(), "failed", error))
        raise SystemExit(1) from None
    models = {name: server.repository.available_versions(name) for name in server.repository.model_names()}
    events.put((slot.index, os.getpid(), "ready", {"addresses": server.addresses(), "models": models}))
    try:
        while not stop.poll(0.5) and not terminated.is_set():
            pass
    finally:
        server.stop()


class WorkerPool:
    """``workers`` processes that each run ``serve(**serve_kwargs)`` on the same ports.

    Args:
        workers: the number of server processes (>= 2; one is plain :func:`serve`).
        rest_port, grpc_port, host: as :func:`serve`; port 0 picks one free port for all workers.
        **serve_kwargs: the other :func:`serve` arguments; ``intra_op_parallelism`` 0 becomes
            :func:`default_intra_op_threads`.
    """

    def __init__(self, workers: int, *, rest_port: int | None = 8501, grpc_port: int | None = 8500,
                 host: str = "127.0.0.1", **serve_kwargs):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 2:
            raise ValueError(f"Invalid workers: expected an integer >= 2 (1 is a plain serve()). Received: {workers!r}")
        if not hasattr(socket, "SO_REUSEPORT"):
            raise ValueError("Invalid workers: several server processes on one port need SO_REUSEPORT, which this "
                             "platform lacks (Linux has it); run one worker")
        if rest_port is None and grpc_port is None:
            raise ValueError("Invalid ports: at least one of rest_port and grpc_port is needed. Received: both None")
        self.workers = workers
        self.host = host
        self._rest_port, self._grpc_port = rest_port, grpc_port
        if not serve_kwargs.get("intra_op_parallelism"):
            serve_kwargs["intra_op_parallelism"] = default_intra_op_threads(workers)
        self._serve_kwargs = serve_kwargs
        self._context = multiprocessing.get_context("spawn")  # a fork would copy this process's threads' locks
        self._events = self._context.Queue()
        self._stop_reader, self._stop_writer = self._context.Pipe(duplex=False)  # closing the writer stops workers
        self._stopping = threading.Event()
        self._processes: list = [None] * workers
        self._reserved: list[socket.socket] = []
        self._deaths: list[float] = []
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self.metrics_dir = ""
        self.ready_info: dict = {}  # the first worker's "ready" report: its addresses and the models it serves
        self.failed = ""  # why the pool stopped by itself, if it did

    # -- start / stop -----------------------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> WorkerPool:
        """Reserve the ports, start the workers, and wait until each has loaded its models and listens."""
        try:
            ports = {}
            for name, port in (("rest_port", self._rest_port), ("grpc_port", self._grpc_port)):
                if port is not None:
                    self._reserved.append(reserve_port(self.host, port))
                    ports[name] = self._reserved[-1].getsockname()[1]
                else:
                    ports[name] = None
            self._serve_kwargs.update(ports, host=self.host)
            self._rest_port, self._grpc_port = ports["rest_port"], ports["grpc_port"]
            self.metrics_dir = tempfile.mkdtemp(prefix="kerazoo-serve-metrics-")
            for index in range(self.workers):
                self._spawn(index)
            deadline = None if timeout is None else time.monotonic() + timeout
            waiting = set(range(self.workers))
            while waiting:
                index, pid, status, info = self._next_event(deadline, waiting)
                if status == "failed":
                    log.debug("worker %d (pid %d) could not start: %s", index, pid, info)
                    raise info
                waiting.discard(index)
                if index == 0:
                    self.ready_info = info
                log.info("worker %d (pid %d) is serving", index, pid)
        except BaseException:
            self.stop()
            raise
        self._supervisor = threading.Thread(target=self._supervise, name="serve-workers", daemon=True)
        self._supervisor.start()
        return self

    def _spawn(self, index: int) -> None:
        slot = WorkerSlot(index=index, count=self.workers, metrics_dir=self.metrics_dir)
        process = self._context.Process(target=_worker_main, name=f"kerazoo-serve-{index}", daemon=True,
                                        args=(slot, self._serve_kwargs, self._events, self._stop_reader,
                                              logging.getLogger().getEffectiveLevel()))
        process.start()
        self._processes[index] = process

    def _next_event(self, deadline: float | None, waiting: set[int]) -> tuple:
        """The next report from a starting worker; a worker that exits without one is an error."""
        while True:
            try:
                return self._events.get(timeout=0.5)
            except queue.Empty:
                pass
            for index in waiting:
                process = self._processes[index]
                if not process.is_alive():
                    with contextlib.suppress(queue.Empty):  # its "failed" report may still be in the pipe
                        return self._events.get(timeout=1.0)
                    raise RuntimeError(f"worker {index} (pid {process.pid}) exited with code {process.exitcode} "
                                       "before it served")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(waiting)} did not load their models in time")

    def _supervise(self) -> None:
        """Start a worker again when one dies; after RESTART_LIMIT deaths within RESTART_WINDOW_S stop the pool."""
        while not self._stopping.is_set():
            sentinels = {process.sentinel: index for index, process in enumerate(self._processes)}
            ready = multiprocessing.connection.wait(list(sentinels), timeout=0.5)
            while True:  # reports of restarted workers
                try:
                    index, pid, status, info = self._events.get_nowait()
                except queue.Empty:
                    break
                log.log(logging.INFO if status == "ready" else logging.ERROR, "worker %d (pid %d): %s", index, pid,
                        "serving again" if status == "ready" else info)
            with self._lock:
                if self._stopping.is_set():
                    return
                for sentinel in ready:
                    index = sentinels[sentinel]
                    process = self._processes[index]
                    process.join()
                    now = time.monotonic()
                    self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW_S] + [now]
                    if len(self._deaths) >= RESTART_LIMIT:
                        self.failed = (f"worker {index} (pid {process.pid}) exited with code {process.exitcode}: "
                                       f"{len(self._deaths)} worker exits within {RESTART_WINDOW_S:g} s, stopping")
                        log.error(self.failed)
                        threading.Thread(target=self.stop, daemon=True).start()
                        return
                    log.error("worker %d (pid %d) exited with code %s; starting it again", index, process.pid,
                              process.exitcode)
                    self._spawn(index)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every worker (each finishes its requests and unloads), then free the ports. Safe to call twice."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            self._stop_writer.close()
        deadline = time.monotonic() + timeout
        for process in self._processes:
            if process is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process is not None and process.is_alive():
                log.warning("worker %s (pid %d) did not stop in %g s; killing it", process.name, process.pid, timeout)
                process.kill()
                process.join(5)
        for reserved in self._reserved:
            reserved.close()
        if self.metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the pool has stopped (True) or ``timeout`` seconds (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what it serves ---------------------------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes if process is not None]

    @property
    def rest_port(self) -> int | None:
        return self._rest_port

    @property
    def grpc_port(self) -> int | None:
        return self._grpc_port

    @property
    def rest_url(self) -> str | None:
        return None if self._rest_port is None else f"http://{host_port(self.host, self._rest_port)}"

    @property
    def grpc_address(self) -> str | None:
        return None if self._grpc_port is None else host_port(self.host, self._grpc_port)

    def addresses(self) -> list[str]:
        return list(self.ready_info.get("addresses", []))

    @property
    def metrics(self) -> ServingMetrics:
        """All workers' metrics as they last published them (at most half a second old), summed."""
        return read_shared_metrics(self.metrics_dir)


def serve_workers(workers: int, **serve_kwargs) -> WorkerPool:
    """Start ``workers`` server processes on the same ports (see :class:`WorkerPool`) and return the running pool;
    call ``stop()`` (or use it as a context manager). Takes :func:`serve`'s arguments by keyword."""
    return WorkerPool(workers, **serve_kwargs).start()
