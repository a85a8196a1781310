"""``serve()``: the repository, REST and gRPC in one process, in threads, with a clean ``stop()``."""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import threading

from kerazoo.serving.config import (
    DEFAULT_METRICS_PATH, BatchingOptions, VersionPolicy, WorkerSlot, host_port, load_batching_parameters_file,
    load_monitoring_config_file,
)
from kerazoo.serving.errors import ServingError
from kerazoo.serving.grpc_service import GrpcServer
from kerazoo.serving.images import DEFAULT_MAX_IMAGE_PIXELS
from kerazoo.serving.metrics import ServingMetrics, SharedMetrics
from kerazoo.serving.repository import ModelRepository
from kerazoo.serving.rest import DEFAULT_MAX_JSON_VALUES, RestApi, RestServer
from kerazoo.serving.service import DEFAULT_MAX_REQUEST_ELEMENTS, ServingService

log = logging.getLogger("kerazoo.serving")

DEFAULT_MAX_REQUEST_BYTES = 64 * 2**20


def freeze_heap() -> None:
    """Take every object alive now out of the garbage collector's scans (``gc.freeze``).

    A loaded SavedModel is hundreds of thousands of Python objects (~500k for a ResNet-20 with TensorFlow), and a
    full collection scans them all: ~1 s holding the GIL on the 2-core VM, triggered every few hundred REST
    requests by their short-lived JSON lists. Frozen objects are never scanned (nor freed: see
    :func:`collect_unloaded`)."""
    gc.freeze()


_collect_lock = threading.Lock()


def collect_unloaded(server: ModelServer, delay: float = 1.0) -> None:
    """After a version is unloaded: put the frozen objects back under the collector, free the old version's
    reference cycles, and freeze what is left (one full collection per version swap). It runs ``delay`` seconds
    later in a thread of its own, once the poll that retired the version and the requests that still held it have
    let go of it (frozen while they did, it would stay in memory until the server stops)."""

    def collect():
        with _collect_lock:
            if not server.gc_frozen:  # stopped meanwhile: stop() unfroze the heap for good
                return
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    timer = threading.Timer(delay, collect)
    timer.daemon = True
    timer.start()


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or "localhost") only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


class ModelServer:
    """A running server. ``rest_url`` / ``grpc_address`` give where it listens; ``stop()`` ends it."""

    def __init__(self, repository: ModelRepository, *, host: str = "127.0.0.1", rest_port: int | None = 8501,
                 grpc_port: int | None = 8500, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 grpc_max_workers: int = 128, metrics: ServingMetrics | None = None, admin: bool | None = None,
                 max_json_values: int = DEFAULT_MAX_JSON_VALUES,
                 max_request_elements: int = DEFAULT_MAX_REQUEST_ELEMENTS,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, freeze_gc: bool = True,
                 metrics_path: str | None = DEFAULT_METRICS_PATH, workers: int = 1):
        if rest_port is None and grpc_port is None:
            raise ValueError("Invalid ports: at least one of rest_port and grpc_port is needed. Received: both None")
        if max_request_bytes < 1:
            raise ValueError(f"Invalid max_request_bytes: expected >= 1. Received: {max_request_bytes}")
        self.host = host
        self.repository = repository
        self.metrics = metrics or ServingMetrics()
        self.service = ServingService(repository, self.metrics, max_request_elements=max_request_elements,
                                      max_image_pixels=max_image_pixels)
        self.admin = is_loopback(host) if admin is None else admin
        self._max_json_values = max_json_values
        self.metrics_path = metrics_path
        self._rest_port, self._grpc_port = rest_port, grpc_port
        self._max_request_bytes = max_request_bytes
        self._grpc_max_workers = grpc_max_workers
        self.workers = workers  # server processes sharing these ports (kerazoo serve --workers)
        self.rest: RestServer | None = None
        self.grpc: GrpcServer | None = None
        self._stopped = threading.Event()
        self._started = False
        self.freeze_gc = freeze_gc
        self.gc_frozen = False  # set once the first models are loaded and frozen (see freeze_heap)

    def start(self) -> ModelServer:
        """Load the models (blocking), then listen. Returns self."""
        self.repository.start()
        try:
            if self._rest_port is not None:
                self.rest = RestServer((self.host, self._rest_port),
                                       RestApi(self.service, max_json_values=self._max_json_values,
                                               metrics_path=self.metrics_path),
                                       max_request_bytes=self._max_request_bytes, reuse_port=self.workers > 1)
            if self._grpc_port is not None:
                self.grpc = GrpcServer(self.service, self.host, self._grpc_port, admin=self.admin,
                                       max_request_bytes=self._max_request_bytes, max_workers=self._grpc_max_workers,
                                       workers=self.workers)
        except (OSError, RuntimeError) as error:
            self.stop()
            raise OSError(f"Cannot listen on {self.host}: {error}") from None
        if self.rest:
            self.rest.start()
        if self.grpc:
            self.grpc.start()
        self._started = True
        if self.freeze_gc:
            freeze_heap()
            self.gc_frozen = True
        for address in self.addresses():
            log.info("listening on %s", address)
        return self

    @property
    def rest_url(self) -> str | None:
        return f"http://{host_port(self.host, self.rest.port)}" if self.rest else None

    @property
    def rest_port(self) -> int | None:
        return self.rest.port if self.rest else None

    @property
    def grpc_port(self) -> int | None:
        return self.grpc.port if self.grpc else None

    @property
    def grpc_address(self) -> str | None:
        return self.grpc.address if self.grpc else None

    def addresses(self) -> list[str]:
        out = []
        if self.rest:
            metrics = f"  (metrics: {self.rest_url}{self.metrics_path})" if self.metrics_path else ""
            out.append(f"REST  {self.rest_url}/v1/models/<name>{metrics}")
        if self.grpc:
            out.append(f"gRPC  {self.grpc_address}  (tensorflow.serving.PredictionService, ModelService)")
        return out

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` (True) or ``timeout`` seconds (False)."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        """Stop listening, close open connections, unload every model. Safe to call twice."""
        if self._stopped.is_set():
            return
        if self.rest:
            self.rest.stop()
        if self.grpc:
            self.grpc.stop()
        self.repository.stop()
        self.metrics.close()
        with _collect_lock:
            if self.gc_frozen:  # the models are gone: let the collector free them (and whatever else was frozen)
                self.gc_frozen = False
                gc.unfreeze()
        self._stopped.set()

    def __enter__(self) -> ModelServer:
        return self if self._started else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def set_tensorflow_threads(intra_op_parallelism: int = 0, inter_op_parallelism: int = 0) -> None:
    """Set TensorFlow's thread pools for this process (0 leaves one as it is). TensorFlow fixes them when it runs its
    first operation: a different value after that is a ValueError naming what the process already has."""
    import tensorflow as tf

    threading_config = tf.config.threading
    pools = (("intra_op_parallelism", intra_op_parallelism, threading_config.get_intra_op_parallelism_threads,
              threading_config.set_intra_op_parallelism_threads),
             ("inter_op_parallelism", inter_op_parallelism, threading_config.get_inter_op_parallelism_threads,
              threading_config.set_inter_op_parallelism_threads))
    for name, value, _, _ in pools:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"Invalid {name}: expected a whole number >= 0 (0: TensorFlow's default). "
                             f"Received: {value!r}")
    for name, value, get, set_threads in pools:
        if not value or get() == value:
            continue
        try:
            set_threads(value)
        except RuntimeError:  # TensorFlow's context already exists
            raise ValueError(f"Invalid {name}: TensorFlow already runs in this process with {get() or 'its default'} "
                             f"({name} is fixed by the first TensorFlow operation; set it before). Received: {value}"
                             ) from None


def serve(repo: str | None = "models", rest_port: int | None = 8501, grpc_port: int | None = 8500,
          host: str = "127.0.0.1", *, model_config_file: str | None = None, models=None,
          version_policy: VersionPolicy | None = None, poll_interval: float = 1.0,
          config_poll_interval: float = 0.0, enable_batching: bool = False,
          batching: BatchingOptions | None = None, batching_parameters_file: str | None = None,
          max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, warmup: bool = True,
          grpc_max_workers: int = 128, admin: bool | None = None, allowed_roots=(), follow_symlinks: bool = False,
          max_json_values: int = DEFAULT_MAX_JSON_VALUES, max_request_elements: int = DEFAULT_MAX_REQUEST_ELEMENTS,
          max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, freeze_gc: bool = True,
          intra_op_parallelism: int = 0, inter_op_parallelism: int = 0,
          monitoring_config_file: str | None = None, worker: WorkerSlot | None = None) -> ModelServer:
    """Start a TF Serving-compatible server over a model repository, in background threads.

    Loads every chosen version before it returns, so the models are AVAILABLE when the ports open.

    Args:
        repo: the model repository (``repo/NAME/VERSION/``). Without ``model_config_file`` or ``models`` every
            model folder in it is served (and new ones are picked up); with them it is where relative and
            container (``/models/NAME``) base paths are found.
        rest_port: REST port; 0 picks a free one, None disables REST.
        grpc_port: gRPC port; 0 picks a free one, None disables gRPC.
        host: address to bind (default loopback only; "0.0.0.0" for all interfaces).
        model_config_file: a TF Serving ``model_config_list`` text file (names, base paths, version policies,
            version labels).
        models: ModelConfigs instead of a file.
        version_policy: policy for models found in ``repo`` (default: the latest version).
        poll_interval: seconds between scans for new and retired versions (0: no polling).
        config_poll_interval: seconds between checks for a changed ``model_config_file`` (0: never).
        enable_batching: batch concurrent requests (``batching`` or defaults); implied by ``batching`` or
            ``batching_parameters_file``.
        batching: BatchingOptions.
        batching_parameters_file: TF Serving's batching parameters text file.
        max_request_bytes: the largest request body (REST) or message (gRPC) accepted.
        warmup: before a new version serves, replay its ``assets.extra/tf_serving_warmup_requests`` (written by
            ``kerazoo export``), or run one zero batch through it when it has none.
        grpc_max_workers: gRPC handler threads (requests served at once).
        admin: whether gRPC's HandleReloadConfigRequest may change the served models; None (default): on when
            ``host`` is a loopback address, off otherwise.
        allowed_roots: folders besides ``repo`` and the configured base paths that a reload may serve from.
        follow_symlinks: serve version folders that are symbolic links leading out of those folders.
        max_json_values: the most JSON values a REST body may hold, counted before it is decoded.
        max_request_elements: the most tensor elements one request may carry (REST and gRPC).
        max_image_pixels: the most pixels an encoded PNG/JPEG/GIF/BMP in a DT_STRING input may declare.
        freeze_gc: once the models are loaded, take the process's objects out of the garbage collector's scans
            (``gc.freeze``; see :func:`freeze_heap`); each version swap then costs one full collection.
        intra_op_parallelism: threads one TensorFlow op may use (0: TensorFlow's default, one per core), as TF
            Serving's ``--tensorflow_intra_op_parallelism``. Process-wide, so it must be set before the process
            runs its first TensorFlow operation (see :func:`set_tensorflow_threads`).
        inter_op_parallelism: threads that run independent ops (and concurrent model calls) at once (0: default),
            as ``--tensorflow_inter_op_parallelism``; the same condition.
        monitoring_config_file: TF Serving's ``--monitoring_config_file`` (``prometheus_config { enable, path }``):
            where REST serves the Prometheus metrics, or no metrics route when not enabled. Without it the
            metrics are at ``/monitoring/prometheus/metrics``.
        worker: set by :mod:`kerazoo.serving.workers` in each of ``kerazoo serve --workers N``'s processes: the
            ports are bound with SO_REUSEPORT, the metrics render the sum over the workers, and gRPC's
            HandleReloadConfigRequest is refused (one request would change one worker).

    Returns:
        The running ModelServer; call ``stop()`` (or use it as a context manager).
    """
    set_tensorflow_threads(intra_op_parallelism, inter_op_parallelism)
    metrics_path = load_monitoring_config_file(monitoring_config_file) if monitoring_config_file else \
        DEFAULT_METRICS_PATH
    if batching_parameters_file is not None:
        if batching is not None:
            raise ValueError("Invalid batching: give batching or batching_parameters_file, not both.")
        batching = load_batching_parameters_file(batching_parameters_file)
    if batching is None and enable_batching:
        batching = BatchingOptions(num_batch_threads=BatchingOptions.default_threads(worker.count if worker else 1))
    if model_config_file is not None and not os.path.isfile(model_config_file):
        raise FileNotFoundError(f"Model config file not found: {model_config_file}")
    metrics = SharedMetrics(worker.metrics_dir, worker.index) if worker else ServingMetrics()
    started: list[ModelServer] = []  # the server, once it runs

    def on_event(name, version, event):
        metrics.model_loads.inc(name, event)
        metrics.available_versions.set(name, value=len(repository.available_versions(name)))
        if started and started[0].gc_frozen:  # versions loaded or retired after start
            if event == "unloaded":
                collect_unloaded(started[0])
            elif event == "loaded":
                freeze_heap()
        if event == "loaded":
            try:
                replayed = repository.get(name, version).warmup_requests
            except ServingError:  # already retired again
                return
            metrics.warmup_requests.inc(name, amount=replayed)

    repository = ModelRepository(
        repo, models=models, model_config_file=model_config_file, default_policy=version_policy,
        poll_interval=poll_interval, config_poll_interval=config_poll_interval, batching=batching, warmup=warmup,
        on_event=on_event, on_batch=lambda name, rows: metrics.batch_size.observe(name, value=rows),
        on_queue_delay=lambda name, seconds: metrics.queue_delay.observe(name, value=seconds * 1e6),
        allowed_roots=allowed_roots, follow_symlinks=follow_symlinks,
    )
    server = ModelServer(repository, host=host, rest_port=rest_port, grpc_port=grpc_port,
                         max_request_bytes=max_request_bytes, grpc_max_workers=grpc_max_workers, metrics=metrics,
                         admin=admin, max_json_values=max_json_values, max_request_elements=max_request_elements,
                         max_image_pixels=max_image_pixels, freeze_gc=freeze_gc, metrics_path=metrics_path,
                         workers=worker.count if worker else 1)
    server.start()
    started.append(server)
    return server
