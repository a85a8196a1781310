"""Choosing a ``tf.distribute`` strategy by name (TensorFlow's own distribution engine, nothing home-made)."""

from __future__ import annotations

import json
import os


def _tf():
    import tensorflow as tf

    return tf


def make_strategy(name: str):
    """Build the strategy named ``name``.

    ``auto`` picks TPU when a cluster resolver finds one, Mirrored for several GPUs, OneDevice for one GPU, and the
    default strategy otherwise. ``multi_worker`` and ``parameter_server`` read the cluster from ``TF_CONFIG`` (set by
    ``kerazoo launch`` locally, or by the scheduler on a cluster).
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
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        tpu = _find_tpu()
        if tpu is None:
            raise ValueError("strategy='tpu' but no TPU was found by TPUClusterResolver; use 'auto' or another strategy.")
        return _tpu_strategy(tpu)
    if name == "parameter_server":
        _require_tf_config("parameter_server")
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.ParameterServerStrategy(resolver)
    raise ValueError(
        "Invalid strategy: expected auto, default, one_device, mirrored, multi_worker, tpu or parameter_server. "
        f"Received: strategy={name!r}"
    )


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
