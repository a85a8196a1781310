"""Strategies: mirrored over 2 logical CPUs equals the default strategy; cluster settings from TF_CONFIG."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kerazoo.training.strategy import is_chief, make_strategy, shard_by_data, task_name

# Logical devices must be configured before TensorFlow starts, so both runs happen in a fresh process.
MIRRORED_VS_DEFAULT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from kerazoo.training import load_config, load_run_model, train

    data_dir, out = sys.argv[1], sys.argv[2]
    # An unshuffled training split ("test..."): Keras draws one extra iterator from the dataset under a strategy
    # (to build the metrics), so a reshuffling pipeline would feed the two runs different orders.
    # steps_per_execution=1: with more, Keras 3 fails under MirroredStrategy ("You must feed a value for
    # placeholder tensor ... while/cond/Placeholder").
    overrides = ["model.name=lenet5", f"data.data_dir={data_dir}", "data.train_split=test[:48]",
                 "data.val_split=train[:16]", "data.augment=[]", "data.batch_size=16", "epochs=2",
                 "optimizer.lr=0.1", "jit_compile=false", "steps_per_execution=1"]
    for strategy in ("default", "mirrored"):
        run = train(load_config(overrides=[*overrides, f"strategy={strategy}"]), f"{out}/{strategy}", verbose=0)
        model = load_run_model(run, "last")
        np.savez(f"{out}/{strategy}.npz", *model.get_weights(), steps=int(model.optimizer.iterations))
""")


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_equals_default(tmp_path, idx_data_dir):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", MIRRORED_VS_DEFAULT, idx_data_dir, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "mirrored" / "config.yaml") as f:
        resolved = __import__("yaml").safe_load(f)["resolved"]
    assert resolved["strategy"] == {"class": "MirroredStrategy", "replicas": 2}
    assert resolved["global_batch_size"] == 16 and resolved["per_replica_batch_size"] == 8
    default, mirrored = np.load(tmp_path / "default.npz"), np.load(tmp_path / "mirrored.npz")
    assert int(default["steps"]) == int(mirrored["steps"]) == 2 * 3
    for key in default.files:
        np.testing.assert_allclose(mirrored[key], default[key], rtol=0, atol=1e-5, err_msg=key)
    first = default["arr_0"]
    assert np.abs(first).max() > 0  # the comparison is of trained weights, not of two empty arrays


def test_multi_worker_needs_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs a cluster in the TF_CONFIG.*kerazoo launch --workers N"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        make_strategy("multi_worker")
    with pytest.raises(ValueError, match="Invalid strategy.*Received: strategy='gpu'"):
        make_strategy("gpu")


@pytest.mark.parametrize(
    "tf_config, chief, name",
    [
        (None, True, "worker-0"),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True, "worker-0"),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False, "worker-1"),
        # Kubeflow TFJob with a Chief replica: the chief is "chief 0" and every "worker" is a non-chief.
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True, "chief-0"),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False, "worker-0"),
    ],
)
def test_chief_and_task_name_from_tf_config(monkeypatch, tf_config, chief, name):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert is_chief() is chief and task_name() == name


def test_pipelines_are_sharded_by_data():
    import tensorflow as tf

    ds = shard_by_data(tf.data.Dataset.range(8).batch(4))
    assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
    assert list(ds.as_numpy_iterator())[1].tolist() == [4, 5, 6, 7]  # the data itself is unchanged
    assert shard_by_data(None) is None
