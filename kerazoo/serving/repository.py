"""The versioned model repository as TF Serving reads it: scanning, version policies, loading and hot swap.

``base_path/<integer version>/`` holds one SavedModel per version; other names (``.tmp-3-xyz`` while the exporter
writes, ``README``) are ignored, as TF Serving ignores them. :class:`ModelRepository` polls the folders, chooses
the versions each model's policy asks for, loads new ones (and warms them up) *before* it retires old ones, so a
request always finds a version. A version that fails to load is logged, shown in the model's status as END with
the error, left out of the policy's choice (the previous version keeps serving), and tried again only if its
files change.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from kerazoo.serving.batching import Batcher
from kerazoo.serving.config import (
    BatchingOptions, ModelConfig, VersionPolicy, discover_models, load_model_config_file,
)
from kerazoo.serving.errors import ServingError, from_exception, invalid_argument, not_found

log = logging.getLogger("kerazoo.serving")

DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICT_METHOD = "tensorflow/serving/predict"
_KEEP_ENDED = 10  # retired or failed versions kept in a model's status
WARMUP_FILE = "tf_serving_warmup_requests"  # TF Serving's warm-up file, under assets.extra/
MAX_WARMUP_REQUESTS = 1000  # TF Serving's limit


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One signature input or output: its dtype (a ``tf.DType``) and shape (None dims unknown; None if unknown rank)."""

    name: str
    dtype: object
    shape: tuple[int | None, ...] | None

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(object) if self.dtype.name == "string" else np.dtype(self.dtype.as_numpy_dtype)

    def shape_text(self) -> str:
        if self.shape is None:
            return "<unknown rank>"
        return "[" + ",".join("-1" if d is None else str(d) for d in self.shape) + "]"


@dataclasses.dataclass(frozen=True)
class Signature:
    key: str
    method_name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    fn: Callable


class Servable:
    """One loaded version of one model: its signatures, SignatureDefs (for metadata) and optional batcher."""

    def __init__(self, name: str, version: int, path: str, loaded, signature_defs, signatures: dict[str, Signature],
                 batching: BatchingOptions | None = None, on_batch: Callable[[str, int], None] | None = None,
                 on_queue_delay: Callable[[str, float], None] | None = None):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = signature_defs  # the SavedModel's map<string, SignatureDef>, all entries
        self.signatures = signatures  # callable ones (no __saved_model_init_op)
        self._loaded = loaded
        self.warmup_requests = 0  # warm-up requests replayed when it loaded
        self.card: dict = {}  # the version's kerazoo.json (model-card fields), shown in its metadata
        self.batcher = None
        if batching is not None:
            callback = (lambda rows: on_batch(name, rows)) if on_batch else None
            waited = (lambda seconds: on_queue_delay(name, seconds)) if on_queue_delay else None
            self.batcher = Batcher(self.call, batching, name=f"{name}-{version}", on_batch=callback,
                                   on_queue_delay=waited)

    def signature(self, key: str) -> Signature:
        key = key or DEFAULT_SIGNATURE
        signature = self.signatures.get(key)
        if signature is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{key}" not found.')
        return signature

    def call(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run signature ``key`` on ``inputs`` now (no batching)."""
        import tensorflow as tf

        fn = self.signatures[key].fn
        try:
            outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        except Exception as error:
            raise from_exception(error) from None
        return {k: v.numpy() for k, v in outputs.items()}

    def run(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run signature ``key``, through the batcher when batching is on."""
        if self.batcher is not None:
            return self.batcher.submit(key, inputs)
        return self.call(key, inputs)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()

    def __repr__(self) -> str:
        return f"Servable({self.name!r}, {self.version}, {self.path!r})"


def load_saved_model_proto(path: str):
    """The SavedModel protocol buffer in ``path`` (``saved_model.pb`` or ``.pbtxt``), without loading TF graphs."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    pb, pbtxt = os.path.join(path, "saved_model.pb"), os.path.join(path, "saved_model.pbtxt")
    if os.path.exists(pb):
        with open(pb, "rb") as f:
            proto.ParseFromString(f.read())
    elif os.path.exists(pbtxt):
        with open(pbtxt, encoding="utf-8") as f:
            text_format.Parse(f.read(), proto)
    else:
        raise FileNotFoundError(f"no saved_model.pb in {path}")
    return proto


def read_serve_meta_graph(path: str):
    """The MetaGraph tagged ``serve`` of the SavedModel in ``path`` (raises OSError/ValueError)."""
    proto = load_saved_model_proto(path)
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"the SavedModel in {path} has no MetaGraph tagged 'serve'")


def read_signature_defs(path: str):
    """The ``serve`` MetaGraph's SignatureDef map of the SavedModel in ``path`` (raises OSError/ValueError)."""
    return read_serve_meta_graph(path).signature_def


def _tensor_info(name: str, info, *, shaped: bool = True) -> TensorInfo:
    import tensorflow as tf

    shape = None
    if shaped and not info.tensor_shape.unknown_rank:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return TensorInfo(name, tf.dtypes.as_dtype(info.dtype), shape)


def load_servable(name: str, version: int, path: str, *, batching: BatchingOptions | None = None,
                  warmup: bool = True, on_batch=None, on_queue_delay=None) -> Servable:
    """Load one version directory: read its SignatureDefs, ``tf.saved_model.load`` it and warm it up: replay its
    ``assets.extra/tf_serving_warmup_requests`` (TF Serving's format), or, without that file, one zero batch."""
    import tensorflow as tf

    meta_graph = read_serve_meta_graph(path)
    signature_defs = meta_graph.signature_def
    # A TF1 graph (SavedModelBuilder, no object graph) is fed as TF Serving feeds it: without checking the input
    # shapes the SignatureDef declares, so the graph decides (half_plus_two takes [3] for its [-1,1] input).
    shaped = len(meta_graph.object_graph_def.nodes) > 0
    loaded = tf.saved_model.load(path, tags=["serve"])
    signatures = {}
    for key, sig_def in signature_defs.items():
        if key == INIT_OP_SIGNATURE or key not in loaded.signatures:
            continue
        signatures[key] = Signature(
            key, sig_def.method_name,
            {k: _tensor_info(k, v, shaped=shaped) for k, v in sig_def.inputs.items()},
            {k: _tensor_info(k, v) for k, v in sig_def.outputs.items()},
            loaded.signatures[key],
        )
    if not signatures:
        raise ValueError(f"the SavedModel in {path} has no callable signature")
    servable = Servable(name, version, path, loaded, signature_defs, signatures, batching=None)
    replayed = 0
    if warmup:
        replayed = replay_warmup_requests(servable)
        if not replayed:
            _warm_up(servable)
    if batching is not None:
        servable = Servable(name, version, path, loaded, signature_defs, signatures, batching=batching,
                            on_batch=on_batch, on_queue_delay=on_queue_delay)
    servable.warmup_requests = replayed
    servable.card = read_card(path)
    return servable


def read_card(path: str) -> dict:
    """The version's ``kerazoo.json`` (what kerazoo export wrote: model, dataset, classes, card fields), or {}."""
    try:
        with open(os.path.join(path, "kerazoo.json"), encoding="utf-8") as f:
            card = json.load(f)
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def warmup_requests(path: str) -> list:
    """The PredictionLogs in ``assets.extra/tf_serving_warmup_requests`` (TF Serving reads at most 1000)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    file = os.path.join(path, "assets.extra", WARMUP_FILE)
    if not os.path.exists(file):
        return []
    logs = []
    for record in tf.data.TFRecordDataset(file).take(MAX_WARMUP_REQUESTS):
        entry = prediction_log_pb2.PredictionLog()
        entry.ParseFromString(record.numpy())
        logs.append(entry)
    return logs


def replay_warmup_requests(servable: Servable) -> int:
    """Run the version's warm-up predict requests through their signatures (so every signature's graph is traced
    and its kernels are ready before the first client); returns how many ran. A failing request fails the load,
    as in TF Serving."""
    import tensorflow as tf

    count = 0
    for entry in warmup_requests(servable.path):
        if entry.WhichOneof("log_type") != "predict_log":
            log.warning("%s version %d: skipping a %s warm-up record (only predict_log is replayed)",
                        servable.name, servable.version, entry.WhichOneof("log_type"))
            continue
        request = entry.predict_log.request
        signature = servable.signature(request.model_spec.signature_name)
        inputs = {key: tf.make_ndarray(tensor) for key, tensor in request.inputs.items()}
        servable.call(signature.key, inputs)
        count += 1
    if count:
        log.info("%s version %d: replayed %d warm-up requests", servable.name, servable.version, count)
    return count


def _warm_up(servable: Servable) -> None:
    """One call of the default signature on a zero batch of one, when its input shapes are known."""
    signature = servable.signatures.get(DEFAULT_SIGNATURE)
    if signature is None:
        return
    inputs = {}
    for key, info in signature.inputs.items():
        known = info.shape is not None and info.shape and all(d is not None for d in info.shape[1:])
        if not known or info.dtype.name == "string":
            return
        inputs[key] = np.zeros((1, *info.shape[1:]), info.np_dtype)
    servable.call(DEFAULT_SIGNATURE, inputs)


@dataclasses.dataclass
class VersionState:
    """A version's state as TF Serving reports it (START, LOADING, AVAILABLE, UNLOADING, END) and its status."""

    version: int
    state: str = "START"
    error_code: str = "OK"
    error_message: str = ""
    fingerprint: tuple | None = None  # the files' (path, size, mtime) when a load failed


def _fingerprint(path: str) -> tuple:
    entries = []
    for root, _, files in os.walk(path):
        for file in files:
            full = os.path.join(root, file)
            try:
                st = os.stat(full)
            except OSError:
                continue
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


def list_versions(base_path: str, roots: Iterable[str] | None = None) -> dict[int, str]:
    """Integer-named version folders under ``base_path`` → their paths. Other names are ignored (``.tmp-*``
    folders that a killed export left behind among them); with ``roots``, so is a version whose real path (after
    symbolic links) leaves every root."""
    try:
        names = os.listdir(base_path)
    except OSError:
        return {}
    found = {}
    for entry in names:
        path = os.path.join(base_path, entry)
        if not (entry.isdigit() and entry.isascii() and len(entry) <= 19 and os.path.isdir(path)):
            continue
        if roots is not None and not within(path, roots):
            log.warning("ignoring version folder %s: it is a symbolic link out of the repository (allow its target "
                        "with --allow-path, or --follow-symlinks)", path)
            continue
        found[int(entry)] = path
    return found


def within(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path``, with symbolic links and '..' resolved, is one of ``roots`` or inside one."""
    real = os.path.realpath(path)
    for root in roots:
        root = os.path.realpath(root)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


class ModelRepository:
    """Serves the versions that the models' policies choose, polling for changes.

    Args:
        repo: a folder of model folders. Without ``models`` or ``model_config_file`` every valid folder name in it
            is a model served with ``default_policy`` (models added or removed while serving are picked up).
        models: explicit ModelConfigs (instead of discovering them).
        model_config_file: a TF Serving ``model_config_list`` file; re-read when it changes if
            ``config_poll_interval`` > 0.
        default_policy: policy for discovered models (default: the latest version).
        poll_interval: seconds between scans of the version folders (TF Serving's
            ``--file_system_poll_wait_seconds``); 0 scans only when :meth:`poll` is called.
        config_poll_interval: seconds between checks of ``model_config_file`` (0: never re-read).
        batching: batching options for every loaded version, or None for no batching.
        warmup: before a version becomes AVAILABLE, replay its ``assets.extra/tf_serving_warmup_requests`` (or
            run one zero batch through ``serving_default`` when it has none).
        on_event: called with (model, version, event) for "loaded", "load_failed", "unloaded" (metrics hook).
        on_batch: called with (model, rows) for each batch executed.
        on_queue_delay: called with (model, seconds) for each batched request: how long it waited in the queue.
        allowed_roots: folders besides ``repo`` (and the base paths configured at start) that model base paths
            may lie in: a reload (HandleReloadConfigRequest) naming a base path elsewhere is refused.
        follow_symlinks: serve version folders that are symbolic links out of the roots (off: they are skipped).
    """

    def __init__(self, repo: str | None = None, *, models: Iterable[ModelConfig] | None = None,
                 model_config_file: str | None = None, default_policy: VersionPolicy | None = None,
                 poll_interval: float = 1.0, config_poll_interval: float = 0.0,
                 batching: BatchingOptions | None = None, warmup: bool = True,
                 on_event: Callable[[str, int, str], None] | None = None,
                 on_batch: Callable[[str, int], None] | None = None,
                 on_queue_delay: Callable[[str, float], None] | None = None,
                 allowed_roots: Iterable[str] = (), follow_symlinks: bool = False,
                 loader: Callable[..., Servable] = load_servable):
        if repo is None and models is None and model_config_file is None:
            raise ValueError("Invalid repository: give repo, models or model_config_file. Received: none of them")
        if repo is not None and not os.path.isdir(repo) and models is None and model_config_file is None:
            raise FileNotFoundError(f"Model repository not found: {repo}")
        self.repo = os.path.abspath(repo) if repo else None
        self.model_config_file = model_config_file
        self.default_policy = default_policy or VersionPolicy()
        self.poll_interval = poll_interval
        self.config_poll_interval = config_poll_interval
        self.batching = batching
        self.warmup = warmup
        self._on_event = on_event
        self._on_batch = on_batch
        self._on_queue_delay = on_queue_delay
        self._loader = loader
        self._explicit = list(models) if models is not None else None
        self._config_mtime = None
        self._configs: dict[str, ModelConfig] = {}
        if model_config_file is not None:
            self._configs = {m.name: m for m in self._read_config_file()}
        elif self._explicit is not None:
            self._configs = {m.name: m for m in self._explicit}
        self._available: dict[str, dict[int, Servable]] = {}  # replaced, never mutated: readers need no lock
        self._states: dict[str, dict[int, VersionState]] = {}
        self._poll_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_config_check = 0.0
        self._warned_empty: set[str] = set()
        self.follow_symlinks = follow_symlinks
        # What the operator chose at start: the repository, the base paths of the models it was started with, and
        # explicit extra roots. A reload over the admin API cannot widen them.
        roots = [self.repo] if self.repo else []
        roots += [m.base_path for m in self._configs.values()] + [os.path.abspath(r) for r in allowed_roots]
        self.roots = tuple(os.path.realpath(r) for r in roots)

    # -- configuration ---------------------------------------------------------------------------------------

    def _read_config_file(self) -> list[ModelConfig]:
        self._config_mtime = os.stat(self.model_config_file).st_mtime_ns
        return load_model_config_file(self.model_config_file, repo=self.repo)

    def reload_config(self, models: Iterable[ModelConfig]) -> None:
        """Serve exactly ``models`` from now on (TF Serving's HandleReloadConfigRequest); applies at once.

        Raises:
            ServingError: PERMISSION_DENIED if a base path lies outside the roots (nothing changes then).
        """
        models = list(models)
        for model in models:
            if not within(model.base_path, self.roots):
                raise ServingError("PERMISSION_DENIED", f"base_path {model.base_path!r} of model {model.name!r} is "
                                   "outside the folders this server may serve (its repository and --allow-path)")
        with self._poll_lock:
            self._explicit = models
            self.model_config_file = None
            self._configs = {m.name: m for m in models}
        self.poll()

    @property
    def configs(self) -> dict[str, ModelConfig]:
        return dict(self._configs)

    def _current_configs(self) -> dict[str, ModelConfig]:
        if self.model_config_file is not None:
            now = time.monotonic()
            if self.config_poll_interval > 0 and now - self._last_config_check >= self.config_poll_interval:
                self._last_config_check = now
                try:
                    if os.stat(self.model_config_file).st_mtime_ns != self._config_mtime:
                        self._configs = {m.name: m for m in self._read_config_file()}
                        log.info("reloaded model config %s: %s", self.model_config_file, sorted(self._configs))
                except (OSError, ValueError) as error:
                    log.error("model config %s not reloaded, keeping the previous one: %s",
                              self.model_config_file, error)
            return self._configs
        if self._explicit is not None:
            return self._configs
        self._configs = {m.name: m for m in discover_models(self.repo, self.default_policy)}
        return self._configs

    # -- polling ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Load what the policies choose now (blocking), then keep polling in a thread if poll_interval > 0."""
        self.poll()
        if self.poll_interval > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll_loop, name="model-repository-poll", daemon=True)
            self._thread.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll()
            except Exception:  # a poll must never kill the poller
                log.exception("polling the model repository failed")

    def stop(self) -> None:
        """Stop polling and unload every version."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        with self._poll_lock:
            for name in list(self._available):
                for version in list(self._available.get(name, {})):
                    self._unload(name, version)

    def poll(self) -> None:
        """One scan: load newly chosen versions, then retire versions no longer chosen."""
        with self._poll_lock:
            configs = self._current_configs()
            for name in list(self._available):
                if name not in configs:
                    for version in list(self._available[name]):
                        self._unload(name, version)
                    log.info("model %s is no longer configured; unloaded", name)
            for config in configs.values():
                try:
                    self._poll_model(config)
                except Exception:
                    log.exception("polling model %s failed", config.name)

    def _poll_model(self, config: ModelConfig) -> None:
        name = config.name
        on_disk = list_versions(config.base_path, None if self.follow_symlinks else self.roots)
        states = self._states.setdefault(name, {})
        candidates = []
        for version, path in on_disk.items():
            state = states.get(version)
            if state is not None and state.fingerprint is not None:
                if _fingerprint(path) == state.fingerprint:
                    continue  # failed before and unchanged: skip it
                state.fingerprint = None
            candidates.append(version)
        aspired = config.policy.select(candidates)
        loaded = self._available.get(name, {})
        for version in sorted(aspired - set(loaded), reverse=True):
            self._load(config, version, on_disk[version])
        loaded = self._available.get(name, {})
        if not on_disk and name not in self._warned_empty:
            self._warned_empty.add(name)
            log.warning("No versions of model %s found under base path %s", name, config.base_path)
        elif on_disk:
            self._warned_empty.discard(name)
        retire = set(loaded) - aspired
        if retire and not (set(loaded) & aspired) and on_disk.keys() & set(loaded):
            # Availability first: keep the old versions until a chosen one is AVAILABLE.
            return
        for version in sorted(retire):
            self._unload(name, version)

    def _set_state(self, name: str, version: int, **fields) -> VersionState:
        with self._state_lock:
            states = self._states.setdefault(name, {})
            state = states.setdefault(version, VersionState(version))
            for key, value in fields.items():
                setattr(state, key, value)
            ended = sorted(v for v, s in states.items() if s.state == "END")
            for old in ended[:-_KEEP_ENDED]:
                if states[old].fingerprint is None:
                    del states[old]
            return state

    def _load(self, config: ModelConfig, version: int, path: str) -> None:
        name = config.name
        self._set_state(name, version, state="LOADING", error_code="OK", error_message="", fingerprint=None)
        log.info("loading %s version %d from %s", name, version, path)
        start = time.monotonic()
        fingerprint = _fingerprint(path)
        try:
            extra = {"on_queue_delay": self._on_queue_delay} if self._on_queue_delay else {}
            servable = self._loader(name, version, path, batching=self.batching, warmup=self.warmup,
                                    on_batch=self._on_batch, **extra)
        except Exception as error:
            message = f"Failed to load {name} version {version} from {path}: {type(error).__name__}: " + \
                      (str(error).strip().splitlines() or [""])[0]
            log.error("%s (skipped; it is retried when its files change)", message)
            code = from_exception(error).code if getattr(error, "error_code", None) else "UNKNOWN"
            self._set_state(name, version, state="END", error_code=code, error_message=message,
                            fingerprint=fingerprint)
            self._event(name, version, "load_failed")
            return
        with self._state_lock:
            table = dict(self._available)
            table[name] = {**table.get(name, {}), version: servable}
            self._available = table
        self._set_state(name, version, state="AVAILABLE")
        log.info("%s version %d is AVAILABLE (%.2f s)", name, version, time.monotonic() - start)
        self._event(name, version, "loaded")

    def _unload(self, name: str, version: int) -> None:
        with self._state_lock:
            table = dict(self._available)
            versions = dict(table.get(name, {}))
            servable = versions.pop(version, None)
            if versions:
                table[name] = versions
            else:
                table.pop(name, None)
            self._available = table
        if servable is None:
            return
        self._set_state(name, version, state="UNLOADING")
        servable.close()  # queued requests finish; requests holding it finish on their own reference
        self._set_state(name, version, state="END")
        log.info("%s version %d unloaded", name, version)
        del servable  # the event hook may collect the version's objects (serve's frozen heap): hold none of them
        self._event(name, version, "unloaded")

    def _event(self, name: str, version: int, event: str) -> None:
        if self._on_event:
            try:
                self._on_event(name, version, event)
            except Exception:
                log.exception("event hook failed")

    # -- lookups ---------------------------------------------------------------------------------------------

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a configured (or still loaded) model."""
        return name in self._configs or name in self._available

    def model_names(self) -> list[str]:
        return sorted(set(self._configs) | set(self._available))

    def available_versions(self, name: str) -> list[int]:
        return sorted(self._available.get(name, {}))

    def label_version(self, name: str, label: str) -> int:
        config = self._configs.get(name)
        if config is None or label not in config.version_labels:
            raise invalid_argument(f"Unrecognized servable version label: {label}")
        return config.version_labels[label]

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable for a request: a specific version, a labelled one, or the latest available."""
        if label:
            version = self.label_version(name, label)
        versions = self._available.get(name)
        if version is None:
            if not versions:
                raise not_found(f"Servable not found for request: Latest({name})")
            return versions[max(versions)]
        servable = versions.get(version) if versions else None
        if servable is None:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return servable

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionState]:
        """Copies of the version states of a model (one version if asked), newest first."""
        if label:
            version = self.label_version(name, label)
        with self._state_lock:
            states = [dataclasses.replace(s) for s in self._states.get(name, {}).values() if s.state != "START"]
        if not states:
            raise not_found(f"Could not find any versions of model {name}")
        if version is not None:
            states = [s for s in states if s.version == version]
            if not states:
                raise not_found(f"Could not find version {version} of model {name}")
        return sorted(states, key=lambda s: -s.version)
