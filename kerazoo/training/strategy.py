"""Choosing a ``tf.distribute`` strategy by name (TensorFlow's own distribution engine, nothing home-made)."""

from __future__ import annotations

import json
import os


def _tf():
    import tensorflow as tf

    return tf


NO_PARAMETER_SERVER = (
    "strategy 'parameter_server' is not supported: ParameterServerStrategy trains only through tf.distribute's "
    "ClusterCoordinator, which Keras 3's Model.fit (kerazoo's training loop) does not drive; use 'multi_worker' "
    "(synchronous data parallelism over the same TF_CONFIG cluster)."
)


def make_strategy(name: str):
    """Build the strategy named ``name``.

    ``auto`` picks TPU when a cluster resolver finds one, Mirrored for several GPUs, OneDevice for one GPU, and the
    default strategy otherwise. ``multi_worker`` reads the cluster from ``TF_CONFIG`` (set by ``kerazoo launch``
    locally, or by the scheduler on a cluster). There is no ``parameter_server``: see ``NO_PARAMETER_SERVER``.
    """
    tf = _tf()
    if name == "auto":
        tpu = _find_tpu()
        if tpu is not None:
            return _tpu_strategy(tpu)
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        if len(gpus) == 1:
            return tf.distribute.OneDeviceStrategy(gpus[0].name)
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multi_worker":
        _require_tf_config("multi_worker")
        return _multi_worker_strategy()
    if name == "tpu":
        tpu = _find_tpu()
        if tpu is None:
            raise ValueError("strategy='tpu' but no TPU was found by TPUClusterResolver; use 'auto' or another strategy.")
        return _tpu_strategy(tpu)
    if name == "parameter_server":
        raise ValueError(NO_PARAMETER_SERVER)
    raise ValueError(
        f"Invalid strategy: expected auto, default, one_device, mirrored, multi_worker or tpu. Received: strategy={name!r}"
    )


def _multi_worker_strategy():
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` accepts what Keras 3's ``fit`` passes it.

    Keras 3 (TensorFlow backend) calls ``strategy.reduce`` with a whole ``(x, y)`` batch, and with ``axis=0`` on the
    scalar loss/metric values of each step; the multi-worker strategy rejects both ("Attempt to convert a value
    (PerReplica...) to a Tensor", "Invalid reduction dimension 0 for input with 0 dimensions";
    keras-team/keras#20585). Here a structure is reduced leaf by leaf and a scalar has no axis to reduce first,
    which is what those calls mean; everything else is TensorFlow's own strategy.
    """
    tf = _tf()

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            parent = super()

            def reduce_leaf(leaf):
                rank = self.experimental_local_results(leaf)[0].shape.rank
                return parent.reduce(reduce_op, leaf, axis=None if rank == 0 else axis)

            return tf.nest.map_structure(reduce_leaf, value)

    return MultiWorkerMirroredStrategy()


def _require_tf_config(name: str) -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            f"strategy={name!r} needs a cluster in the TF_CONFIG environment variable: start the workers with "
            "`kerazoo launch --workers N -- kerazoo train ...`, or let the cluster scheduler set it."
        )
    try:
        json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}).") from None


def _find_tpu():
    tf = _tf()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return resolver
    except (ValueError, RuntimeError, tf.errors.NotFoundError):
        return None


def _tpu_strategy(resolver):
    return _tf().distribute.TPUStrategy(resolver)


def describe(strategy) -> dict:
    """What the run's config records about the strategy it used."""
    return {"class": type(strategy).__name__, "replicas": int(strategy.num_replicas_in_sync)}


def is_chief() -> bool:
    """True unless TF_CONFIG names this process as a non-chief worker (only the chief writes run files)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    cluster = json.loads(raw).get("cluster", {})
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster


def task_name() -> str:
    """This process's place in the cluster, e.g. ``worker-1`` (``worker-0`` without TF_CONFIG)."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    return f"{task.get('type', 'worker')}-{task.get('index', 0)}"


SHARD_POLICY = "DATA"


def shard_by_data(dataset):
    """Set the ``tf.data`` auto-shard policy explicitly to DATA: each worker runs the whole pipeline and keeps its
    own share of every global batch.

    kerazoo's pipelines are in-memory arrays or a cached tfds split, so there are no files to hand out (FILE
    sharding would fall back with a warning, or leave workers without data when a split has fewer files than
    workers). Only multi-worker strategies read the policy; single-process strategies ignore it.
    """
    if dataset is None:
        return None
    tf = _tf()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = getattr(tf.data.experimental.AutoShardPolicy, SHARD_POLICY)
    return dataset.with_options(options)
