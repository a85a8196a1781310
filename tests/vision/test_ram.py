"""The recurrent attention model (kerazoo.vision.ram): the retina reads the right pixels, REINFORCE moves the policy
towards reward, and a trained model saves and loads to the same outputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerazoo.applications import create_model
from kerazoo.vision import ram

TINY = {"glimpses": 3, "glimpse_size": 4, "scales": 2, "glimpse_units": 16, "location_units": 8, "hidden_units": 24}


def numpy_patch(image, location, side):
    """The patch of ``side`` centred on ``location`` by slicing a zero-padded copy (the documented rounding)."""
    height, width = image.shape[:2]
    pad = 2 * side
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    top = int(np.floor((location[0] + 1) * height / 2 - side / 2 + 0.5)) + pad
    left = int(np.floor((location[1] + 1) * width / 2 - side / 2 + 0.5)) + pad
    return padded[top:top + side, left:left + side]


@pytest.mark.parametrize("location", [(0.0, 0.0), (-1.0, -1.0), (1.0, 1.0), (0.3, -0.7), (-0.45, 0.9)])
def test_glimpse_sensor_matches_numpy_slicing(location):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, size=(20, 24, 2)).astype("float32")  # not square, two channels: no axis mix-up
    size, scales = 4, 3
    patches = keras.ops.convert_to_numpy(
        ram.glimpse_sensor(image[None], np.array([location], "float32"), size=size, scales=scales))
    assert patches.shape == (1, scales, size, size, 2)
    for i in range(scales):
        side = size * 2 ** i
        expected = numpy_patch(image, location, side)
        factor = side // size  # area resize to size x size: the mean of each factor x factor block
        expected = expected.reshape(size, factor, size, factor, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(patches[0, i], expected, rtol=1e-5, atol=1e-6)


def test_glimpse_sensor_centre_and_boxes_agree():
    image = np.zeros((1, 16, 16, 1), "float32")
    image[0, 8, 8] = 1.0  # the pixel at the image centre
    patch = keras.ops.convert_to_numpy(ram.glimpse_sensor(image, np.zeros((1, 2), "float32"), size=4, scales=1))
    assert patch[0, 0, 2, 2, 0] == 1.0 and patch.sum() == 1.0  # rows/cols 6..9: the centre pixel at index 2
    boxes = ram.glimpse_boxes(np.zeros((2,)), image_shape=(16, 16), size=4, scales=2)
    np.testing.assert_array_equal(boxes, [[6, 6, 4], [4, 4, 8]])


def test_reinforce_moves_the_policy_towards_reward():
    # Toy policy: a free 2-d mean; reward 1 when the sampled x > 0.2, else 0. REINFORCE with a learned baseline must
    # push the mean's x up and leave y (no effect on the reward) roughly where it was.
    mean = tf.Variable([[0.0, 0.0]])
    baseline = tf.Variable(0.0)
    optimizer = keras.optimizers.SGD(0.02)
    std, batch, steps = 0.2, 256, 40
    gen = tf.random.Generator.from_seed(0)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            means = tf.tile(mean[:, None, :], [batch, 1, 1])  # [B, T=1, 2]
            locations = means + std * gen.normal(means.shape)
            rewards = tf.cast(locations[:, 0, 1] > 0.2, "float32")
            baselines = tf.fill([batch, 1], 1.0) * baseline
            reinforce, mse = ram.policy_losses(locations, means, baselines, rewards, std=std)
            loss = reinforce + mse
        optimizer.apply_gradients(zip(tape.gradient(loss, [mean, baseline]), [mean, baseline]))
    y, x = mean.numpy()[0]
    assert x > 0.3, f"the mean's x should have moved towards the rewarded side; it is {x:.3f}"
    assert abs(y) < 0.15, f"y does not affect the reward and should stay near 0; it is {y:.3f}"
    assert 0.3 < float(baseline.numpy()) < 1.0  # tracks the rising success rate


def test_policy_gradient_sign_follows_the_advantage():
    means = tf.Variable(tf.zeros([1, 1, 2]))
    location = tf.constant([[[0.1, -0.2]]])
    for reward, sign in ((1.0, 1.0), (0.0, -1.0)):  # baseline 0.5: advantage +0.5 then -0.5
        with tf.GradientTape() as tape:
            reinforce, _ = ram.policy_losses(location, means, tf.fill([1, 1], 0.5), tf.constant([reward]), std=0.1)
        step = -tape.gradient(reinforce, means).numpy()[0, 0]  # gradient descent moves the mean this way
        np.testing.assert_allclose(np.sign(step), sign * np.sign([0.1, -0.2]))


def tiny_model(**kwargs):
    return create_model("ram", classes=3, input_shape=(24, 24, 1), seed=1, **{**TINY, **kwargs})


@pytest.mark.parametrize("core", ["rnn", pytest.param("lstm", marks=pytest.mark.slow)])
def test_trained_model_saves_and_loads_to_equal_outputs(tmp_path, core):
    model = tiny_model(core=core)
    trainer = ram.AttentionTrainer(model)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(8, 24, 24, 1)).astype("float32")
    y = rng.integers(0, 3, size=8)
    before = [w.copy() for w in model.get_layer("attention").get_weights()]
    history = trainer.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = model.get_layer("attention").get_weights()
    names = [w.path for w in model.get_layer("attention").weights]
    moved = {n for n, b, a in zip(names, before, after) if not np.allclose(b, a)}
    # Every head learns: the classifier and core by backprop, the location policy by REINFORCE, the baseline by MSE.
    for part in ("classifier", "core", "location_mean", "baseline", "glimpse_patch"):
        assert any(part in n for n in moved), f"{part} did not train; moved: {sorted(moved)}"
    path = tmp_path / "ram.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    out = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(x, training=False)), out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ram.glimpse_path(reloaded, x)[0], ram.glimpse_path(model, x)[0], atol=1e-6)
    assert reloaded.get_layer("attention").get_config()["core"] == core


def test_evaluation_is_deterministic_and_training_samples():
    model = tiny_model()
    x = np.random.default_rng(1).uniform(0, 255, size=(4, 24, 24, 1)).astype("float32")
    network = ram.attention_network(model)
    _, first, means, _ = (keras.ops.convert_to_numpy(t) for t in network(x, training=False))
    _, again, _, _ = (keras.ops.convert_to_numpy(t) for t in network(x, training=False))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, means)  # evaluation looks at the policy's means
    _, sampled, sampled_means, _ = (keras.ops.convert_to_numpy(t) for t in network(x, training=True))
    assert not np.allclose(sampled, sampled_means) and np.all(np.abs(sampled) <= 1.0)
    assert first.shape == (4, TINY["glimpses"], 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"core": "gru"}, "Invalid core: expected one of rnn, lstm. Received: core='gru'"),
    ({"glimpses": 0}, "Invalid glimpses: expected a positive integer. Received: glimpses=0"),
    ({"std": -1.0}, "Invalid std: expected a positive number. Received: std=-1.0"),
    ({"glimpse_size": 32}, "Invalid glimpse_size: expected at most the image side 24. Received: glimpse_size=32"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        tiny_model(**kwargs)


def test_glimpse_path_rejects_other_models():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")], name="mlp")
    with pytest.raises(ValueError, match="'mlp' is not a recurrent attention model"):
        ram.glimpse_path(model, np.zeros((1, 4), "float32"))


def test_task_builds_from_the_config_and_evaluates_like_the_eager_model(idx_data_dir):
    from kerazoo.training import Task, load_config
    from kerazoo.training.tasks import task_for_model

    config = load_config("fashion_ram", [f"data.data_dir={idx_data_dir}", "data.batch_size=16",
                                         "model.kwargs={glimpses: 2, glimpse_size: 6, hidden_units: 16}"])
    task = task_for_model("ram")
    assert task.name == "attention"
    model = task.build(config, task.dataset_info(config))
    assert model.input_shape == (None, 60, 60, 1) and model.output_shape == (None, 10)
    assert model.get_layer("attention").glimpses == 2
    compiled = task.evaluate(model, config, limit=20)
    eager = Task.evaluate(task, model, config, limit=20)  # the base Task's eager loop
    assert compiled["examples"] == eager["examples"] == 20 and compiled["accuracy"] == eager["accuracy"]
    np.testing.assert_allclose(compiled["loss"], eager["loss"], rtol=1e-5)


JAX_CHECK = """
import numpy as np, keras
from kerazoo.applications import create_model
from kerazoo.vision import ram
assert keras.backend.backend() == "jax"
model = create_model("ram", classes=3, input_shape=(24, 24, 1), seed=0, glimpses=2, glimpse_size=4, scales=2,
                     glimpse_units=8, location_units=8, hidden_units=16)
x = np.random.default_rng(0).uniform(0, 255, (4, 24, 24, 1)).astype("float32")
trainer = ram.AttentionTrainer(model)
trainer.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
before = [np.array(w) for w in model.get_layer("attention").get_weights()]
trainer.fit(x, np.array([0, 1, 2, 0]), epochs=2, verbose=0)
after = model.get_layer("attention").get_weights()
print(sum(not np.allclose(a, np.array(b)) for a, b in zip(before, after)), len(before))
"""


@pytest.mark.slow
def test_trains_under_the_jax_backend():
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", JAX_CHECK], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    moved, total = done.stdout.split()[-2:]
    assert moved == total  # every weight trained: the jitted JAX step runs the hybrid loss


@pytest.mark.parametrize("core, core_gates", [("rnn", 1), ("lstm", 4)])
def test_flops_count_every_glimpse_by_hand(core, core_gates):
    from kerazoo.applications.flops import count_flops

    channels, classes = 2, 3
    model = create_model("ram", classes=classes, input_shape=(24, 24, channels), core=core, **TINY)
    g, h = TINY["glimpse_units"], TINY["hidden_units"]
    retina = TINY["scales"] * TINY["glimpse_size"] ** 2 * channels
    per_glimpse = (retina * g + 2 * TINY["location_units"]  # glimpse network: patches, location
                   + g * h + TINY["location_units"] * h  # what + where
                   + core_gates * (h * h + h * h)  # core: input and recurrent kernels
                   + h * 2 + h * 1)  # location mean and baseline heads
    assert count_flops(model) == 2 * (TINY["glimpses"] * per_glimpse + h * classes)


def test_predict_gives_a_trained_runs_top_classes(idx_data_dir, tmp_path):
    """``kerazoo predict`` on an attention run: its top classes, as for any classifier run."""
    from PIL import Image

    from kerazoo.cli.predict import predict
    from kerazoo.training import load_config, train

    config = load_config("fashion_ram", [f"data.data_dir={idx_data_dir}", "data.train_split=train[:32]",
                                         "data.val_split=train[32:48]", "data.batch_size=16", "epochs=1",
                                         "model.kwargs={glimpses: 2, glimpse_size: 6, hidden_units: 16}"])
    run_dir = train(config, str(tmp_path / "ram"), verbose=0)
    image = tmp_path / "digit.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 60)).astype("uint8")).save(image)
    result = predict(run_dir, str(image), top=3)
    assert len(result["top"]) == 3 and all(isinstance(name, str) for name, _ in result["top"])
    probabilities = [p for _, p in result["top"]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
