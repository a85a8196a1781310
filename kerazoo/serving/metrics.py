"""Server metrics in Prometheus text format, served at ``/monitoring/prometheus/metrics`` as TF Serving does.

The request metrics use TF Serving's own names (``:tensorflow:serving:request_count`` with ``model_name`` and
``status``; ``:tensorflow:serving:request_latency`` in microseconds with ``model_name``, ``API`` and
``entrypoint``), so dashboards built for the real server read these too. kerazoo adds ``kerazoo_serving_*`` metrics
for batching (batch sizes, queue delay) and model loading (loads, replayed warm-up requests).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import tempfile
import threading

LATENCY_BUCKETS_US = (50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
                      1_000_000, 2_500_000, 5_000_000, 10_000_000)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()):
        self.name, self.help, self.label_names = name, help, labels
        self._values: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels) -> float:
        return self._values.get(labels, 0.0)

    def state(self) -> list:
        """The values as JSON-able ``[labels, value]`` pairs (for another process to merge)."""
        with self._lock:
            return [[list(k), v] for k, v in self._values.items()]

    def merge(self, state: list) -> None:
        """Add another process's :meth:`state` to these values."""
        with self._lock:
            for labels, value in state:
                key = tuple(labels)
                self._values[key] = self._combine(self._values.get(key), value)

    @staticmethod
    def _combine(mine: float | None, theirs: float) -> float:
        return (mine or 0.0) + theirs

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        lines += [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]
        return lines


class Gauge(Counter):
    def set(self, *labels, value: float) -> None:
        with self._lock:
            self._values[labels] = float(value)

    @staticmethod
    def _combine(mine: float | None, theirs: float) -> float:
        return theirs if mine is None else max(mine, theirs)  # the same level seen by several processes

    def render(self) -> list[str]:
        lines = super().render()
        lines[1] = f"# TYPE {self.name} gauge"
        return lines


class Histogram:
    def __init__(self, name: str, help: str, labels: tuple[str, ...], buckets: tuple[float, ...]):
        self.name, self.help, self.label_names, self.buckets = name, help, labels, tuple(buckets)
        self._series: dict[tuple, list] = {}  # labels -> [bucket counts..., sum, count]
        self._lock = threading.Lock()

    def observe(self, *labels, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series_of(labels)
            series[index] += 1
            series[-2] += value
            series[-1] += 1

    def _series_of(self, labels: tuple) -> list:
        """The series of ``labels`` (created empty); the caller holds the lock."""
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0] * (len(self.buckets) + 1) + [0.0, 0]
        return series

    def count(self, *labels) -> int:
        series = self._series.get(labels)
        return series[-1] if series else 0

    def state(self) -> list:
        with self._lock:
            return [[list(k), list(v)] for k, v in self._series.items()]

    def merge(self, state: list) -> None:
        with self._lock:
            for labels, series in state:
                mine = self._series_of(tuple(labels))
                for i, value in enumerate(series):
                    mine[i] += value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        for labels, series in items:
            cumulative = 0
            for bound, count in zip((*self.buckets, "+Inf"), series):
                cumulative += count
                le = 'le="+Inf"' if bound == "+Inf" else f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, labels, le)} {cumulative}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, labels)} {_number(series[-2])}")
            lines.append(f"{self.name}_count{_labels(self.label_names, labels)} {series[-1]}")
        return lines


class ServingMetrics:
    """The metrics one server keeps; ``render()`` gives the Prometheus exposition text."""

    def __init__(self):
        self.request_count = Counter(":tensorflow:serving:request_count",
                                     "The total number of requests.", ("model_name", "status"))
        self.request_latency = Histogram(":tensorflow:serving:request_latency",
                                         "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
                                         ("model_name", "API", "entrypoint"), LATENCY_BUCKETS_US)
        self.batch_size = Histogram("kerazoo_serving_batch_size", "Rows per executed model call when batching.",
                                    ("model_name",), BATCH_BUCKETS)
        self.queue_delay = Histogram("kerazoo_serving_batch_queue_delay",
                                     "Microseconds a request waited in the batching queue before its batch ran.",
                                     ("model_name",), LATENCY_BUCKETS_US)
        self.warmup_requests = Counter("kerazoo_serving_warmup_requests_total",
                                       "Warm-up requests (assets.extra/tf_serving_warmup_requests) replayed on load.",
                                       ("model_name",))
        self.model_loads = Counter("kerazoo_serving_model_load_total",
                                   "Version loads by outcome (loaded, load_failed, unloaded).",
                                   ("model_name", "event"))
        self.available_versions = Gauge("kerazoo_serving_available_versions",
                                        "Versions of a model that are AVAILABLE.", ("model_name",))
        self._all = (self.request_count, self.request_latency, self.batch_size, self.queue_delay,
                     self.warmup_requests, self.model_loads, self.available_versions)

    def record_request(self, model_name: str, api: str, entrypoint: str, status: str, seconds: float) -> None:
        self.request_count.inc(model_name, status)
        self.request_latency.observe(model_name, api, entrypoint, value=seconds * 1e6)

    def state(self) -> dict:
        """Every metric's values, JSON-able: what a worker process publishes for the others (see workers.py)."""
        return {metric.name: metric.state() for metric in self._all}

    def merge(self, state: dict) -> None:
        """Add another process's :meth:`state`: counters and histograms sum, gauges keep the highest value."""
        for metric in self._all:
            metric.merge(state.get(metric.name, []))

    def close(self) -> None:
        """Release what the metrics hold (nothing here; see :class:`SharedMetrics`)."""

    def render(self) -> str:
        lines = []
        for metric in self._all:
            lines += metric.render()
        return "\n".join(lines) + "\n"


class SharedMetrics(ServingMetrics):
    """One worker process's metrics (``kerazoo serve --workers N``) that render as the sum over all workers.

    A scrape reaches one worker, so each worker writes its values to ``folder/worker-<index>.json`` every
    ``interval`` seconds (atomically) and renders its own live values merged with the other workers' files: the
    other workers' part is at most ``interval`` old."""

    def __init__(self, folder: str, index: int, interval: float = 0.5):
        super().__init__()
        self.folder, self.index = folder, index
        self._path = os.path.join(folder, f"worker-{index}.json")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._publish_loop, args=(interval,), name=f"metrics-{index}",
                                        daemon=True)
        self._thread.start()

    def publish(self) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.state(), f)
            os.replace(temporary, self._path)
        except OSError:  # the folder went away (the supervisor stopped): nothing to share any more
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    def _publish_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.publish()

    def render(self) -> str:
        merged = read_shared_metrics(self.folder, skip=os.path.basename(self._path))
        merged.merge(self.state())
        return merged.render()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.publish()


def read_shared_metrics(folder: str, skip: str = "") -> ServingMetrics:
    """The sum of the workers' published metrics in ``folder`` (a file being replaced or unreadable is left out)."""
    merged = ServingMetrics()
    for name in sorted(os.listdir(folder)):
        if name.startswith("worker-") and name.endswith(".json") and name != skip:
            try:
                with open(os.path.join(folder, name)) as f:
                    merged.merge(json.load(f))
            except (OSError, ValueError):
                continue
    return merged
