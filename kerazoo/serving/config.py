"""TF Serving's configuration files: the ``model_config_list`` text file and the batching parameters file.

Both are protobuf text format, parsed with protobuf's own ``text_format`` so that a file TF Serving accepts is
accepted here and a typo fails with the parser's line and column:

- ``--model-config-file`` is a ``tensorflow.serving.ModelServerConfig`` (the proto ships in
  ``tensorflow_serving.config.model_server_config_pb2``); each ``config`` names a model, its ``base_path``, its
  ``model_version_policy`` (``latest { num_versions: N }``, ``all {}``, ``specific { versions: 1 versions: 3 }``)
  and optional ``version_labels``.
- ``--batching-parameters-file`` is TF Serving's ``BatchingParameters`` (``max_batch_size { value: 32 }`` ...).
  That proto is not in the ``tensorflow-serving-api`` package, so :func:`_batching_parameters_class` declares the
  same field names here.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
from collections.abc import Iterable, Mapping

from google.protobuf import text_format

log = logging.getLogger("kerazoo.serving")

# TF Serving's REST routes cannot address names with '/' or ':'; kerazoo's exporter uses this stricter set.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABEL = re.compile(r"^[^/:\s]+$")


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which of a model's versions to serve: the ``latest`` N, ``all``, or ``specific`` ones (TF Serving's)."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in ("latest", "all", "specific"):
            raise ValueError(f"Invalid version policy: expected latest, all or specific. Received: kind={self.kind!r}")
        if self.kind == "latest" and self.num_versions < 1:
            raise ValueError(f"Invalid version policy: latest needs num_versions >= 1. Received: {self.num_versions}")
        if self.kind == "specific" and not self.versions:
            raise ValueError("Invalid version policy: specific needs at least one version. Received: versions=()")

    @classmethod
    def latest(cls, num_versions: int = 1) -> VersionPolicy:
        return cls("latest", num_versions=num_versions)

    @classmethod
    def all(cls) -> VersionPolicy:
        return cls("all")

    @classmethod
    def specific(cls, *versions: int) -> VersionPolicy:
        return cls("specific", versions=tuple(sorted(set(int(v) for v in versions))))

    def select(self, versions: Iterable[int]) -> set[int]:
        """The versions to serve among those on disk."""
        found = sorted(set(versions))
        if self.kind == "latest":
            return set(found[-self.num_versions:])
        if self.kind == "all":
            return set(found)
        return set(found) & set(self.versions)

    def to_text(self) -> str:
        if self.kind == "latest":
            return f"latest {{ num_versions: {self.num_versions} }}"
        if self.kind == "all":
            return "all {}"
        return "specific { " + " ".join(f"versions: {v}" for v in self.versions) + " }"

    def __str__(self) -> str:
        return self.to_text()


@dataclasses.dataclass(frozen=True, eq=True)
class ModelConfig:
    """One served model: its name, the folder holding its integer versions, the policy and version labels."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    version_labels: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not _MODEL_NAME.match(self.name or ""):
            raise ValueError(
                "Invalid model name: expected letters, digits, '_', '.', '-' (usable in TF Serving's REST paths). "
                f"Received: name={self.name!r}"
            )
        if not self.base_path:
            raise ValueError(f"Invalid model config for {self.name!r}: base_path is empty.")
        for label, version in self.version_labels.items():
            if not _LABEL.match(label) or label.isdigit():
                raise ValueError(f"Invalid version label for {self.name!r}: expected a non-numeric name without "
                                 f"'/', ':' or spaces. Received: {label!r}")
            if version < 1:
                raise ValueError(f"Invalid version label {label!r} for {self.name!r}: version must be >= 1. "
                                 f"Received: {version}")
        object.__setattr__(self, "version_labels", dict(self.version_labels))

    def __hash__(self):
        return hash((self.name, self.base_path, self.policy, tuple(sorted(self.version_labels.items()))))


def _policy_from_proto(proto) -> VersionPolicy:
    choice = proto.WhichOneof("policy_choice")
    if choice is None:
        return VersionPolicy.latest(1)
    if choice == "latest":
        # TF Serving serves at least one version when num_versions is left at 0.
        return VersionPolicy.latest(max(int(proto.latest.num_versions), 1))
    if choice == "all":
        return VersionPolicy.all()
    return VersionPolicy.specific(*proto.specific.versions)


def parse_model_config(text: str, *, source: str = "<model config>", base_dir: str | None = None,
                       repo: str | None = None) -> list[ModelConfig]:
    """Parse a TF Serving ``model_config_list`` text into ModelConfigs.

    Args:
        text: the file's contents (``model_config_list { config { name: ... base_path: ... } ... }``).
        source: where the text came from, for error messages.
        base_dir: folder that a relative ``base_path`` is relative to (default: the current directory).
        repo: the local model repository. An absolute ``base_path`` that does not exist here (such as
            ``/models/NAME``, the path inside the TF Serving container) is looked up as ``repo/NAME`` so that
            one config file serves both ``kerazoo serve --repo models`` and the real server.

    Raises:
        ValueError: on a syntax error (with line and column), a custom_model_config, a platform other than
            tensorflow, a duplicate or invalid name, or an invalid policy.
    """
    from tensorflow_serving.config import model_server_config_pb2

    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as error:
        raise ValueError(f"Invalid model config {source}: {error}") from None
    return models_from_proto(proto, source=source, base_dir=base_dir, repo=repo)


def models_from_proto(proto, *, source: str = "<model config>", base_dir: str | None = None,
                      repo: str | None = None) -> list[ModelConfig]:
    """ModelConfigs from a ``tensorflow.serving.ModelServerConfig`` message (see :func:`parse_model_config`)."""
    if proto.WhichOneof("config") == "custom_model_config":
        raise ValueError(f"Invalid model config {source}: custom_model_config is not supported; use model_config_list.")
    models: list[ModelConfig] = []
    seen = set()
    for entry in proto.model_config_list.config:
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(f"Invalid model config {source}: model {entry.name!r} has model_platform="
                             f"{entry.model_platform!r}; only 'tensorflow' is served.")
        if entry.name in seen:
            raise ValueError(f"Invalid model config {source}: model {entry.name!r} appears twice.")
        seen.add(entry.name)
        try:
            base_path = _resolve_base_path(entry.base_path, base_dir=base_dir, repo=repo)
            models.append(ModelConfig(entry.name, base_path, _policy_from_proto(entry.model_version_policy),
                                      dict(entry.version_labels)))
        except ValueError as error:
            raise ValueError(f"Invalid model config {source}: {error}") from None
    return models


def _resolve_base_path(base_path: str, *, base_dir: str | None, repo: str | None) -> str:
    if not base_path:
        return base_path
    if base_path.startswith(("gs://", "s3://", "hdfs://")):
        raise ValueError(f"Invalid base_path {base_path!r}: only local folders are served by kerazoo serve.")
    if not os.path.isabs(base_path):
        return os.path.normpath(os.path.join(repo or base_dir or os.getcwd(), base_path))
    if repo and not os.path.exists(base_path):
        local = os.path.join(repo, os.path.basename(os.path.normpath(base_path)))
        log.info("base_path %s does not exist here; serving %s instead", base_path, local)
        return local
    return base_path


def load_model_config_file(path: str, *, repo: str | None = None) -> list[ModelConfig]:
    """Read a TF Serving ``--model_config_file``; relative base paths are relative to ``repo`` or the file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_model_config(text, source=path, base_dir=os.path.dirname(os.path.abspath(path)), repo=repo)


def format_model_config(models: Iterable[ModelConfig], *, base_prefix: str | None = None) -> str:
    """The ``model_config_list`` text for ``models``; ``base_prefix`` (e.g. ``/models``) replaces each parent folder."""
    lines = ["model_config_list {"]
    for model in models:
        base = f"{base_prefix.rstrip('/')}/{model.name}" if base_prefix else model.base_path
        lines += ["  config {", f"    name: '{model.name}'", f"    base_path: '{base}'",
                  "    model_platform: 'tensorflow'", f"    model_version_policy {{ {model.policy.to_text()} }}"]
        for label, version in sorted(model.version_labels.items()):
            lines.append(f"    version_labels {{ key: '{label}' value: {version} }}")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def discover_models(repo: str, policy: VersionPolicy | None = None) -> list[ModelConfig]:
    """Every model folder in ``repo`` (names starting with '.' or '_' and invalid names are skipped)."""
    if not os.path.isdir(repo):
        return []
    models = []
    for name in sorted(os.listdir(repo)):
        path = os.path.join(repo, name)
        if _MODEL_NAME.match(name) and os.path.isdir(path):
            models.append(ModelConfig(name, os.path.abspath(path), policy or VersionPolicy()))
    return models


# ---------------------------------------------------------------------------------------------------------------
# Batching parameters


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """Server-side dynamic batching, TF Serving's parameters and meanings.

    Attributes:
        max_batch_size: the most examples (rows) one model call takes.
        batch_timeout_micros: how long a non-full batch waits for more requests; 0 runs whatever is queued at once
            (under load the queue fills while the previous batch runs, which is the best choice on CPU).
        max_enqueued_batches: queue bound; a request that would exceed ``max_enqueued_batches * max_batch_size``
            queued rows fails with UNAVAILABLE (HTTP 503) instead of waiting.
        num_batch_threads: batches that run at the same time per model version.
        allowed_batch_sizes: if set, each batch is padded up to the next allowed size (the last must equal
            max_batch_size), as TF Serving does to limit the distinct shapes a model sees.
    """

    max_batch_size: int = 64
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100
    num_batch_threads: int = 1
    allowed_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self):
        for field in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, field) < 1:
                raise ValueError(f"Invalid batching parameter: {field} must be >= 1. Received: {getattr(self, field)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"Invalid batching parameter: batch_timeout_micros must be >= 0. "
                             f"Received: {self.batch_timeout_micros}")
        sizes = tuple(int(s) for s in self.allowed_batch_sizes)
        if sizes:
            if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
                raise ValueError(f"Invalid batching parameter: allowed_batch_sizes must increase. Received: {sizes}")
            if sizes[-1] != self.max_batch_size:
                raise ValueError("Invalid batching parameter: the last allowed_batch_sizes entry must equal "
                                 f"max_batch_size ({self.max_batch_size}). Received: {sizes}")
        object.__setattr__(self, "allowed_batch_sizes", sizes)

    @staticmethod
    def default_threads(workers: int = 1) -> int:
        """``kerazoo serve``'s batch threads: two batches in flight keep the cores busy while the other batch's
        requests are answered and the next ones arrive (measured: bench/serving_load.py), one on a one-CPU machine
        or when ``workers`` server processes share the cores (each then runs one batch at a time)."""
        return max(1, min(2, (os.cpu_count() or 1) // workers))

    def to_text(self) -> str:
        """The TF Serving ``--batching_parameters_file`` text for these options."""
        lines = [f"max_batch_size {{ value: {self.max_batch_size} }}",
                 f"batch_timeout_micros {{ value: {self.batch_timeout_micros} }}",
                 f"max_enqueued_batches {{ value: {self.max_enqueued_batches} }}",
                 f"num_batch_threads {{ value: {self.num_batch_threads} }}"]
        lines += [f"allowed_batch_sizes: {s}" for s in self.allowed_batch_sizes]
        return "\n".join(lines) + "\n"


def host_port(host: str, port: int) -> str:
    """``host:port`` as URLs and gRPC targets write it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclasses.dataclass(frozen=True)
class WorkerSlot:
    """Which of ``kerazoo serve --workers N``'s server processes this is (see workers.py).

    Attributes:
        index: 0 to count - 1.
        count: the number of worker processes sharing the ports.
        metrics_dir: the folder where the workers publish their metrics to one another.
    """

    index: int
    count: int
    metrics_dir: str


# Fields of TF Serving's BatchingParameters (session_bundle_config.proto) that kerazoo reads; the others are
# accepted and ignored with a log line, so a file written for the real server loads unchanged.
_WRAPPED_INT = ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
                "max_execution_batch_size", "low_priority_max_batch_size", "low_priority_batch_timeout_micros",
                "low_priority_max_enqueued_batches")
_WRAPPED_STRING = ("thread_pool_name", "batch_padding_policy", "mixed_priority_batching_policy")
_WRAPPED_BOOL = ("enable_large_batch_splitting",)
_REPEATED_INT = ("allowed_batch_sizes", "low_priority_allowed_batch_sizes")
_PLAIN_BOOL = ("pad_variable_length_inputs",)
_USED = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
         "allowed_batch_sizes"}


@functools.cache
def _batching_parameters_class():
    """A message class with BatchingParameters' field names, built once in a private descriptor pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file = descriptor_pb2.FileDescriptorProto(name="kerazoo_batching_parameters.proto", package="tensorflow.serving",
                                              syntax="proto3", dependency=[wrappers.name])
    message = file.message_type.add(name="BatchingParameters")
    F = descriptor_pb2.FieldDescriptorProto
    number = 0
    for names, ftype, label, type_name in (
        (_WRAPPED_INT, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".google.protobuf.Int64Value"),
        (_WRAPPED_STRING, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".google.protobuf.StringValue"),
        (_WRAPPED_BOOL, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".google.protobuf.BoolValue"),
        (_REPEATED_INT, F.TYPE_INT64, F.LABEL_REPEATED, None),
        (_PLAIN_BOOL, F.TYPE_BOOL, F.LABEL_OPTIONAL, None),
    ):
        for name in names:
            number += 1
            field = message.field.add(name=name, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    return message_factory.GetMessageClass(descriptor)


def parse_batching_parameters(text: str, *, source: str = "<batching parameters>") -> BatchingOptions:
    """Parse TF Serving's batching parameters text (``max_batch_size { value: 32 }`` ...) into BatchingOptions."""
    proto = _batching_parameters_class()()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as error:
        raise ValueError(f"Invalid batching parameters {source}: {error}") from None
    values = {}
    for field, value in proto.ListFields():
        if field.name not in _USED:
            log.info("batching parameter %s is accepted for TF Serving compatibility and ignored", field.name)
            continue
        values[field.name] = tuple(value) if field.name == "allowed_batch_sizes" else int(value.value)
    try:
        return BatchingOptions(**values)
    except ValueError as error:
        raise ValueError(f"Invalid batching parameters {source}: {error}") from None


def load_batching_parameters_file(path: str) -> BatchingOptions:
    with open(path, encoding="utf-8") as f:
        return parse_batching_parameters(f.read(), source=path)


# -- TF Serving's --monitoring_config_file --------------------------------------------------------------------

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


@functools.cache
def _monitoring_config_class():
    """MonitoringConfig { PrometheusConfig prometheus_config } as TF Serving's monitoring_config.proto declares it
    (the tensorflow-serving-api package does not ship it), built once in a private descriptor pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="kerazoo_monitoring_config.proto", package="tensorflow.serving",
                                              syntax="proto3")
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    monitoring = file.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
    return message_factory.GetMessageClass(descriptor)


def parse_monitoring_config(text: str, *, source: str = "<monitoring config>") -> str | None:
    """The REST path of the Prometheus metrics that TF Serving's monitoring config text asks for (its default path
    when the config names none), or None when ``prometheus_config { enable: false }`` (or no prometheus_config)."""
    proto = _monitoring_config_class()()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as error:
        raise ValueError(f"Invalid monitoring config {source}: {error}") from None
    if not proto.prometheus_config.enable:
        return None
    path = proto.prometheus_config.path or DEFAULT_METRICS_PATH
    if not path.startswith("/") or path.lower().startswith("/v1/") or path.lower() == "/v1":
        raise ValueError(f"Invalid monitoring config {source}: the metrics path must start with '/' and not with "
                         f"/v1 (TF Serving's API). Received: path={path!r}")
    return path


def load_monitoring_config_file(path: str) -> str | None:
    with open(path, encoding="utf-8") as f:
        return parse_monitoring_config(f.read(), source=path)
