"""GroupedConv2D against keras.layers.Conv2D(groups=...): outputs, gradients, weights, serialization, JAX."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerazoo.layers import GroupedConv2D
from kerazoo.layers.grouped_conv import block_diagonal_kernel

CASES = [  # (input shape, conv arguments)
    ((2, 9, 9, 16), dict(filters=8, kernel_size=3, groups=4, padding="same")),
    ((2, 11, 11, 12), dict(filters=12, kernel_size=3, groups=3, strides=2, padding="valid", use_bias=True)),
    ((1, 12, 12, 8), dict(filters=16, kernel_size=3, groups=8, dilation_rate=2, padding="same", use_bias=False)),
    ((2, 13, 13, 6), dict(filters=4, kernel_size=5, groups=2, strides=2, padding="same", activation="relu")),
]


def twin_layers(shape, arguments, seed=0):
    """A Conv2D(groups=...) and a GroupedConv2D with the same random weights."""
    reference = keras.layers.Conv2D(**arguments)
    reference.build(shape)
    grouped = GroupedConv2D(**arguments)
    grouped.build(shape)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    grouped.set_weights(weights)
    return reference, grouped


def forward_and_gradients(layer, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * tf.sin(y))  # a non-linear loss, so gradients depend on every output value
    grads = tape.gradient(loss, [x, *layer.trainable_variables])
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("shape, arguments", CASES)
def test_matches_conv2d_forward_and_backward(shape, arguments):
    reference, grouped = twin_layers(shape, arguments)
    assert [w.path.split("/")[-1] for w in grouped.weights] == [w.path.split("/")[-1] for w in reference.weights]
    assert grouped.kernel.shape == (arguments["kernel_size"],) * 2 + (shape[-1] // arguments["groups"],
                                                                      arguments["filters"])
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    y_ref, grads_ref = forward_and_gradients(reference, x)
    y, grads = forward_and_gradients(grouped, x)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    assert len(grads) == len(grads_ref) == 1 + len(reference.trainable_variables)
    for g, g_ref in zip(grads, grads_ref):  # input, kernel, (bias)
        np.testing.assert_allclose(g, g_ref, rtol=1e-3, atol=1e-3)


def test_matches_conv2d_inside_a_compiled_function():
    shape, arguments = CASES[1]
    reference, grouped = twin_layers(shape, arguments)
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    y = tf.function(lambda t: grouped(t))(x)  # graph mode: Conv2D + BiasAdd may be fused by grappler
    np.testing.assert_allclose(y.numpy(), reference(x).numpy(), rtol=1e-4, atol=1e-4)


def test_config_equals_conv2d_and_serialization_roundtrips(tmp_path):
    shape, arguments = CASES[0]
    reference, grouped = twin_layers(shape, arguments)
    assert grouped.get_config() == {**reference.get_config(), "name": grouped.name}
    inputs = keras.Input(shape[1:])
    model = keras.Model(inputs, GroupedConv2D(**arguments, name="grouped")(inputs))
    model.get_layer("grouped").set_weights(reference.get_weights())
    path = str(tmp_path / "grouped.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.get_layer("grouped")) is GroupedConv2D
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), reference(x).numpy(), rtol=1e-4, atol=1e-4)


def test_old_keras_file_with_conv2d_groups_loads_and_weights_transfer(tmp_path):
    shape, arguments = CASES[0]
    inputs = keras.Input(shape[1:])
    old = keras.Model(inputs, keras.layers.Conv2D(**arguments, name="conv")(inputs))
    path = str(tmp_path / "old.keras")
    old.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("conv")) is keras.layers.Conv2D
    inputs = keras.Input(shape[1:])
    new = keras.Model(inputs, GroupedConv2D(**arguments, name="conv")(inputs))
    new.set_weights(loaded.get_weights())
    x = np.random.default_rng(4).normal(size=shape).astype("float32")
    np.testing.assert_allclose(new.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_block_diagonal_kernel_is_the_grouped_convolution_ungrouped():
    # JAX's CPU path: one ungrouped convolution whose kernel is zero between groups.
    shape, arguments = CASES[0]
    reference, _ = twin_layers(shape, arguments)
    full = keras.ops.convert_to_numpy(block_diagonal_kernel(reference.kernel, arguments["groups"]))
    assert full.shape == (3, 3, shape[-1], arguments["filters"])
    assert np.count_nonzero(full) == reference.kernel.numpy().size  # only the groups' own blocks
    x = np.random.default_rng(5).normal(size=shape).astype("float32")
    y = tf.nn.convolution(x, full, padding="SAME") + reference.bias
    np.testing.assert_allclose(y.numpy(), reference(x).numpy(), rtol=1e-4, atol=1e-4)


def test_bad_groups_is_refused_like_conv2d():
    with pytest.raises(ValueError, match="groups"):
        GroupedConv2D(8, 3, groups=3).build((1, 8, 8, 16))  # 16 input channels are not divisible by 3


JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, keras, numpy as np
    from kerazoo.layers import GroupedConv2D
    assert keras.backend.backend() == "jax"
    shape, arguments = (2, 9, 9, 16), dict(filters=8, kernel_size=3, groups=4, strides=2, padding="same")
    reference, grouped = keras.layers.Conv2D(**arguments), GroupedConv2D(**arguments)
    reference.build(shape); grouped.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights); grouped.set_weights(weights)
    x = rng.normal(size=shape).astype("float32")

    def loss(values, x, layer):
        y, _ = layer.stateless_call(values, [], x)
        return (y * jax.numpy.sin(y)).sum()

    def forward_and_grads(layer):
        values = [v.value for v in layer.trainable_variables]
        y, _ = layer.stateless_call(values, [], x)
        gx, gw = jax.grad(loss, argnums=(1, 0))(values, x, layer)
        return [np.asarray(y), np.asarray(gx), *[np.asarray(g) for g in gw]]

    diffs = [float(np.max(np.abs(a - b))) for a, b in zip(forward_and_grads(grouped), forward_and_grads(reference))]
    print(json.dumps({"diffs": diffs}))
""")


def test_matches_conv2d_on_jax():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    diffs = json.loads(result.stdout.strip().splitlines()[-1])["diffs"]
    assert len(diffs) == 4  # output, input gradient, kernel gradient, bias gradient
    assert max(diffs) < 1e-4


def test_the_zoo_builds_grouped_convolutions_with_it():
    from kerazoo.applications.resnet import conv_bn

    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, conv_bn(conv_bn(inputs, 16, 3, 1, name="grouped", groups=4), 8, 1, 1, name="plain"))
    assert type(model.get_layer("grouped_conv")) is GroupedConv2D
    assert type(model.get_layer("plain_conv")) is keras.layers.Conv2D
