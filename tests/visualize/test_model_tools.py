"""Layer lookup, splitting and Grad-CAM's layer choice on Sequential, functional and nested models; receptive fields
from the graph against brute force; clear errors on bad input."""

import keras
import numpy as np
import pytest

from kerazoo.visualize import (
    find_gradcam_layer, find_layer, gradcam, read_image, receptive_field, split_at,
)
from kerazoo.visualize.gradients import value_and_gradient

L = keras.layers


def small_backbone(name="backbone"):
    inputs = keras.Input((16, 16, 1), name=f"{name}_in")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name=f"{name}_conv1")(inputs)
    x = L.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = L.Conv2D(6, 3, padding="same", name=f"{name}_conv2")(x)
    x = L.ReLU(name=f"{name}_relu")(x)
    return keras.Model(inputs, x, name=name)


def models():
    """The same kind of network three ways; each expects Grad-CAM to take the backbone's last ReLU."""
    sequential = keras.Sequential([
        keras.Input((16, 16, 1)), L.Conv2D(4, 3, padding="same", activation="relu", name="s_conv1"),
        L.MaxPooling2D(2, name="s_pool"), L.Conv2D(6, 3, padding="same", name="s_conv2"), L.ReLU(name="s_relu"),
        L.GlobalAveragePooling2D(name="s_gap"), L.Dense(3, name="s_out"),
    ], name="sequential_net")
    flat = small_backbone("f")  # a functional model: the backbone's graph with a head added
    functional = keras.Model(flat.inputs, L.Dense(3, name="f_out")(L.GlobalAveragePooling2D(name="f_gap")(
        flat.outputs[0])), name="functional_net")
    backbone = small_backbone()
    images = keras.Input((16, 16, 1), name="images")
    x = L.Rescaling(1 / 255.0, name="normalize")(images)  # as a run's model starts (Task.build)
    x = backbone(x)
    nested = keras.Model(images, L.Dense(3, name="n_out")(L.GlobalAveragePooling2D(name="n_gap")(x)), name="nested")
    return [(sequential, "s_relu"), (functional, "f_relu"), (nested, "backbone/backbone_relu")]


def test_gradcam_picks_the_last_spatial_layer_in_sequential_functional_and_nested_models():
    image = np.random.default_rng(0).uniform(0, 255, (16, 16, 1)).astype("float32")
    for model, expected in models():
        assert find_gradcam_layer(model) == expected, model.name
        cam = gradcam(model, image, class_index=1)
        assert cam.layer == expected and cam.heatmap.shape == (16, 16)
        head, tail = split_at(model, find_layer(model, expected))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(tail(head(image[None]))),
                                   keras.ops.convert_to_numpy(model(image[None])), rtol=1e-5, atol=1e-5)


def test_receptive_field_from_the_graph_matches_lenet_by_hand_and_brute_force():
    from kerazoo.applications import create_model

    lenet = create_model("lenet5", input_shape=(28, 28, 1))
    # pad 2 → 5x5 conv → 2x2 pool → 5x5 conv → 2x2 pool: size 5, 6, 14, 16; jump 1, 2, 2, 4; start -2
    field = receptive_field(lenet, "s4_pool")
    assert (field.size, field.jump, field.start) == ((16, 16), (4, 4), (-2, -2))

    # Brute force on a nested model with padding, a strided "same" conv, dilation and pooling: with positive
    # weights, the input pixels a unit depends on are exactly where its gradient is non-zero.
    inner_in = keras.Input((None, None, 2), name="inner_in")
    y = L.Conv2D(2, 3, dilation_rate=2, name="dilated")(inner_in)
    y = L.AveragePooling2D(2, name="avg")(y)
    inner = keras.Model(inner_in, y, name="inner")
    images = keras.Input((32, 32, 1), name="images")
    x = L.ZeroPadding2D(1, name="pad")(images)
    x = L.Conv2D(2, 3, strides=2, padding="same", name="strided")(x)
    model = keras.Model(images, inner(x), name="outer")
    for weights in model.weights:
        weights.assign(np.abs(keras.ops.convert_to_numpy(weights)) + 0.1)
    field = receptive_field(model, "avg")
    for row, col in ((0, 0), (1, 2), (2, 3)):
        _, grad = value_and_gradient(
            lambda t: keras.ops.sum(model(t)[0, row, col, 0]), np.ones((1, 32, 32, 1), "float32"))
        rows, cols = np.nonzero(keras.ops.convert_to_numpy(grad)[0, ..., 0])
        assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == field.window(row, col, 32, 32)


def test_unknown_layer_lists_close_names(items_model):
    with pytest.raises(ValueError, match=r"no layer named 'c3_cnv'.*Closest: c3_conv"):
        find_layer(items_model, "c3_cnv")


def test_unreadable_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is not a PNG")
    with pytest.raises(ValueError, match="Cannot read .*not_an_image.png as an image"):
        read_image(str(bad))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image(str(tmp_path / "missing.png"))


def test_gradcam_on_a_model_without_convolutions_is_a_clear_error():
    inputs = keras.Input((8, 8, 1), name="images")
    model = keras.Model(inputs, L.Dense(2, name="out")(L.Flatten(name="flat")(inputs)), name="mlp")
    with pytest.raises(ValueError, match="Grad-CAM needs a convolutional layer, and model 'mlp' has none"):
        gradcam(model, np.zeros((8, 8, 1), "float32"))
