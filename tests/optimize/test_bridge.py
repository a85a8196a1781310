import keras
import numpy as np
import pytest

from kerazoo.optimize.bridge import copy_weights, max_output_difference, to_keras, to_tf_keras
from optimize_helpers import tiny_cnn, tiny_images


def test_zoo_model_round_trip_keeps_names_weights_and_outputs():
    from kerazoo.applications import create_model

    model = create_model("lenet5", input_shape=(28, 28, 1), classes=10, classifier_activation=None)
    tf_model = to_tf_keras(model)
    assert type(tf_model).__module__.startswith("tf_keras")
    assert [layer.name for layer in tf_model.layers] == [layer.name for layer in model.layers]
    images = np.random.default_rng(1).uniform(0, 255, (3, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(tf_model(images).numpy(), keras.ops.convert_to_numpy(model(images)), atol=1e-5)
    back = to_keras(tf_model, like=model)
    assert isinstance(back, keras.Model) and back is not model
    assert max_output_difference(model, back, images) <= 1e-6


def test_kerazoo_layer_twin_and_batchnorm_in_inference_mode():
    from kerazoo.layers import ZeroPadShortcut

    inputs = keras.Input((8, 8, 4), name="images")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    shortcut = ZeroPadShortcut(8, stride=2, name="shortcut")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv_down")(x)
    x = keras.layers.Add(name="add")([x, shortcut])
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x), name="res")
    bn = model.get_layer("bn")
    bn.set_weights([w + np.random.default_rng(2).uniform(0.5, 1.5, w.shape) for w in bn.get_weights()])
    assert max_output_difference(model, to_tf_keras(model)) <= 1e-5


def test_grouped_conv_twin_is_tf_keras_conv2d_with_groups():
    from kerazoo.layers import GroupedConv2D

    inputs = keras.Input((8, 8, 8), name="images")
    x = GroupedConv2D(8, 3, groups=4, padding="same", name="grouped")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x), name="grouped_net")
    tf_model = to_tf_keras(model)
    assert type(tf_model.get_layer("grouped")).__name__ == "Conv2D" and tf_model.get_layer("grouped").groups == 4
    assert max_output_difference(model, tf_model) <= 1e-5


def test_unknown_custom_layer_is_refused_by_name():
    @keras.saving.register_keras_serializable(package="tests")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, Doubler(name="doubler")(inputs))
    with pytest.raises(ValueError, match="'doubler'.*no tf_keras twin"):
        to_tf_keras(model)


def test_non_functional_model_is_refused():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="functional"):
        to_tf_keras(model)


def test_to_keras_refuses_wrapped_models_and_copy_weights_is_by_name():
    from kerazoo.optimize import prune

    model = tiny_cnn()
    tf_model = to_tf_keras(model)
    wrapped = prune.apply_pruning(tf_model, prune.make_schedule("constant", 0.5, 10))
    with pytest.raises(ValueError, match="strip them first"):
        to_keras(wrapped, like=model)
    other = tiny_cnn()
    copy_weights(model, other)
    images, _ = tiny_images(4)
    assert max_output_difference(model, other, images) == 0.0
