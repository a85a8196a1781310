import json
import os

import keras
import numpy as np
import pytest
import yaml

from kerazoo.training import load_config, speed, train
from kerazoo.training.averaging import WeightAveraging
from kerazoo.training.callbacks import Heartbeat


def tiny(data_dir, *extra):
    return load_config(overrides=[
        "model.name=lenet5", f"data.data_dir={data_dir}", "data.train_split=train[:64]", "data.val_split=train[64:]",
        "data.batch_size=16", "data.augment=[crop, flip]", "epochs=2", "optimizer.lr=0.05", "strategy=default", *extra,
    ])


def resolved_speed(run_dir):
    with open(os.path.join(run_dir, "config.yaml")) as f:
        return yaml.safe_load(f)["resolved"]["speed"]


def losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [(row["loss"], row["val_loss"]) for row in map(json.loads, f)]


def test_speed_settings_default_to_auto_and_can_be_turned_off():
    config = load_config()
    assert (config.speed, config.jit_compile, config.steps_per_execution, config.precision, config.threads,
            config.fused_batch_norm) == (True, "auto", "auto", "auto", "auto", "auto")
    plain = load_config(overrides=["speed=false"])
    assert speed.resolve_steps_per_execution(plain.steps_per_execution, 430, speed=plain.speed)[0] == 1
    assert speed.resolve_precision(plain.precision, plain.speed, capability=(9, 0))[0] == "float32"
    assert speed.resolve_jit_compile(plain.jit_compile, None, None, 10**6, speed=plain.speed) == (False, "speed off")
    assert speed.configure_threads(plain.threads, plain.speed)["applied"] is False
    for bad in ("steps_per_execution=fast", "steps_per_execution=0", "threads=-1", "precision=half",
                "fused_batch_norm=sometimes"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            load_config(overrides=[bad])


def test_steps_per_execution_divides_the_epoch_and_respects_per_batch_callbacks():
    assert speed.resolve_steps_per_execution("auto", 430, gpu=True)[0] == 10  # 430 = 2 * 5 * 43
    assert speed.resolve_steps_per_execution("auto", 64, gpu=True)[0] == 32
    assert speed.resolve_steps_per_execution("auto", 431, gpu=True)[0] == 1  # prime: more would overrun the epoch
    assert speed.resolve_steps_per_execution("auto", 430, gpu=False)[0] == 1  # measured slower on CPU
    assert speed.resolve_steps_per_execution(4, 430) == (4, "set in the config")
    quiet = [Heartbeat("unused"), keras.callbacks.TensorBoard("unused")]
    assert speed.resolve_steps_per_execution("auto", 64, quiet, gpu=True)[0] == 32
    n, reason = speed.resolve_steps_per_execution("auto", 64, [*quiet, WeightAveraging("ema", 0.9)], gpu=True)
    assert n == 1 and "WeightAveraging" in reason


@pytest.mark.parametrize("capability, policy", [(None, "float32"), ((6, 1), "float32"), ((7, 5), "mixed_float16"),
                                                ((8, 0), "mixed_bfloat16"), ((9, 0), "mixed_bfloat16")])
def test_mixed_precision_only_on_gpus_with_tensor_cores(capability, policy):
    assert speed.resolve_precision("auto", capability=capability or ())[0] == policy
    assert speed.resolve_precision("float32", capability=(9, 0))[0] == "float32"  # an explicit value wins


def test_xla_probe_accepts_zoo_models_and_names_what_it_cannot_compile():
    import tensorflow as tf

    from kerazoo.applications import create_model

    spec = tf.TensorSpec([None, 28, 28, 1], tf.float32)
    model = create_model("lenet5", input_shape=(28, 28, 1), classes=10)
    assert speed.probe_xla(model, spec) is None
    on_gpu = speed.resolve_jit_compile("auto", model, spec, total_steps=1000, gpu=True)
    assert on_gpu == (True, "XLA probe lowered the training step")
    assert speed.resolve_jit_compile("auto", model, spec, total_steps=10, gpu=True)[0] is False  # would not pay back
    jit, reason = speed.resolve_jit_compile("auto", model, spec, total_steps=1000, gpu=False)
    assert jit is False and reason.startswith("CPU")  # measured slower there

    class HostSide(keras.layers.Layer):  # a test-only layer with an op XLA cannot compile
        def call(self, x):
            return tf.ensure_shape(tf.numpy_function(lambda a: a * 2, [x], tf.float32, stateful=False), x.shape)

        def compute_output_shape(self, shape):
            return shape

    inputs = keras.Input((4,))
    host = keras.Model(inputs, keras.layers.Dense(2, name="dense")(HostSide(name="host")(inputs)))
    jit, reason = speed.resolve_jit_compile("auto", host, tf.TensorSpec([None, 4], tf.float32), total_steps=1000,
                                            gpu=True)
    assert jit is False and "XLA probe failed" in reason and "PyFunc" in reason


def test_fast_defaults_keep_the_loss_curve_and_profile_reports(tmp_path, idx_data_dir, capsys):
    """The same seeded run with the speed settings a GPU run chooses (XLA, 4 steps per execution: on this CPU they
    are set explicitly) and with speed off."""
    fast_run = train(tiny(idx_data_dir, "jit_compile=true", "steps_per_execution=4"), str(tmp_path / "fast"),
                     verbose=0, profile=True)
    report = capsys.readouterr().out
    plain_run = train(tiny(idx_data_dir, "speed=false"), str(tmp_path / "plain"), verbose=0)
    fast, plain = resolved_speed(fast_run), resolved_speed(plain_run)
    assert (fast["jit_compile"], fast["steps_per_execution"], fast["precision"]) == (True, 4, "float32")
    assert (plain["jit_compile"], plain["steps_per_execution"], plain["precision"]) == (False, 1, "float32")
    np.testing.assert_allclose(losses(fast_run), losses(plain_run), rtol=1e-4)

    assert "bound by:" in report and "input pipeline" in report
    with open(os.path.join(fast_run, "profile.json")) as f:
        figures = json.load(f)
    assert figures["jit_compile"] is True and figures["input_ms_per_batch"] > 0 and figures["compute_ms_per_step"] > 0
    traces = [name for _, _, files in os.walk(os.path.join(fast_run, "tb")) for name in files
              if name.endswith(".xplane.pb")]
    assert traces, "the TensorBoard profile trace was not written"


def test_cli_flags_turn_speed_off_and_profile_on(monkeypatch, tmp_path):
    import kerazoo.training
    import kerazoo.training.tasks
    from kerazoo.cli import main

    calls = []
    monkeypatch.setattr(kerazoo.training, "train", lambda config, out, **kw: calls.append((config, kw)) or out)
    monkeypatch.setattr(kerazoo.training.tasks, "task_for_model", lambda name: object())  # no task callbacks
    assert main(["train", "lenet5", "--out", str(tmp_path), "--no-speed", "--profile"]) == 0
    assert main(["train", "lenet5", "--out", str(tmp_path), "steps_per_execution=1"]) == 0
    (plain, plain_kw), (default, default_kw) = calls
    assert plain.speed is False and plain_kw["profile"] is True
    assert default.speed is True and default.steps_per_execution == 1 and default_kw["profile"] is False


def batch_norm_model(rank, **batch_norm):
    keras.utils.set_random_seed(1)
    if rank == 4:
        inputs = keras.Input((6, 6, 3))
        hidden = keras.layers.BatchNormalization(**batch_norm)(keras.layers.Conv2D(5, 3)(inputs))
        hidden = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(hidden))
    else:
        inputs = keras.Input((4, 7) if rank == 3 else (7,))
        hidden = keras.layers.BatchNormalization(**batch_norm)(keras.layers.Dense(5)(inputs))
        hidden = keras.layers.Flatten()(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def training_ops(model, x):
    import tensorflow as tf

    graph = tf.function(lambda batch: model(batch, training=True)).get_concrete_function(x).graph
    return {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("rank, batch_norm", [
    (4, {"epsilon": 1e-5, "momentum": 0.9}),
    (3, {"center": False}),
    (2, {"scale": False, "epsilon": 1e-3}),
])
def test_fused_batch_norm_trains_like_keras_layer(rank, batch_norm):
    rng = np.random.default_rng(0)
    x = rng.normal(2, 3, {4: (16, 6, 6, 3), 3: (16, 4, 7), 2: (16, 7)}[rank]).astype("float32")
    y = rng.integers(0, 3, 16)
    keras_model, fused_model = batch_norm_model(rank, **batch_norm), batch_norm_model(rank, **batch_norm)
    assert speed.use_fused_batch_norm("auto", fused_model)[0] is True
    assert "FusedBatchNormV3" in training_ops(fused_model, x)
    assert "FusedBatchNormV3" not in training_ops(keras_model, x)
    keras_losses = [keras_model.train_on_batch(x, y) for _ in range(5)]
    fused_losses = [fused_model.train_on_batch(x, y) for _ in range(5)]
    np.testing.assert_allclose(fused_losses, keras_losses, rtol=1e-5)
    for fused, plain in zip(fused_model.weights, keras_model.weights):  # moving mean and variance included
        np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-5, atol=1e-6, err_msg=fused.path)
    np.testing.assert_allclose(fused_model.predict_on_batch(x), keras_model.predict_on_batch(x), rtol=1e-5, atol=1e-6)


def test_fused_batch_norm_is_a_setting_and_leaves_what_it_cannot_serve_to_keras():
    x = np.ones((4, 6, 6, 3), "float32")
    assert speed.use_fused_batch_norm("auto", batch_norm_model(4), speed=False) == (False, "speed off")
    assert speed.use_fused_batch_norm(False, batch_norm_model(4)) == (False, "set in the config")
    enabled, reason = speed.use_fused_batch_norm(True, batch_norm_model(4))
    assert enabled is True and reason.startswith("1 layers")
    no_batch_norm = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert speed.use_fused_batch_norm("auto", no_batch_norm) == (False, "the model has no BatchNormalization layer")
    renorm = batch_norm_model(4, renorm=True)
    speed.use_fused_batch_norm("auto", renorm)
    assert "FusedBatchNormV3" not in training_ops(renorm, x)  # Keras' path, which knows renorm
    channels_first = batch_norm_model(4, axis=1)
    speed.use_fused_batch_norm("auto", channels_first)
    assert "FusedBatchNormV3" not in training_ops(channels_first, x)


def test_runs_train_batch_norm_fused_by_default_with_the_same_losses(tmp_path, idx_data_dir):
    fused_run = train(tiny(idx_data_dir, "model.name=resnet20", "epochs=1"), str(tmp_path / "fused"), verbose=0)
    plain_run = train(tiny(idx_data_dir, "model.name=resnet20", "epochs=1", "fused_batch_norm=false"),
                      str(tmp_path / "plain"), verbose=0)
    fused, plain = resolved_speed(fused_run), resolved_speed(plain_run)
    assert fused["fused_batch_norm"] is True and fused["fused_batch_norm_reason"].startswith("19 layers")
    assert (plain["fused_batch_norm"], plain["fused_batch_norm_reason"]) == (False, "set in the config")
    np.testing.assert_allclose(losses(fused_run), losses(plain_run), rtol=1e-4)


@pytest.mark.slow
def test_fused_batch_norm_runs_repeat_bit_for_bit_under_op_determinism(tmp_path, idx_data_dir):
    config = tiny(idx_data_dir, "model.name=resnet20", "epochs=1")
    a, b = (train(config, str(tmp_path / name), verbose=0) for name in "ab")
    assert resolved_speed(a)["fused_batch_norm"] is True
    assert losses(a) == losses(b)


@pytest.mark.slow
def test_xla_runs_repeat_bit_for_bit_under_op_determinism(tmp_path, idx_data_dir):
    """Why speed.force_jit_compile may keep XLA on although Keras turns it off under op determinism (CPU)."""
    config = tiny(idx_data_dir, "jit_compile=true")
    a, b = (train(config, str(tmp_path / name), verbose=0) for name in "ab")
    assert resolved_speed(a)["jit_compile"] is True
    assert losses(a) == losses(b)
