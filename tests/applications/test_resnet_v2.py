"""Pre-activation ResNets against keras.applications' ResNetV2."""

import re

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, resnet_v2


def kerazoo_name(keras_name):
    """keras.applications' ResNet layer names → kerazoo's: ``conv1_*`` → ``stem_*``, ``convK_*`` → ``stage{K-1}_*``."""
    if keras_name.startswith("conv1_"):
        return "stem_" + keras_name[len("conv1_"):]
    match = re.fullmatch(r"conv(\d)_(block\d+_.+)", keras_name)
    return f"stage{int(match[1]) - 1}_{match[2]}" if match else keras_name


def assert_equals_keras(model, reference):
    """Same parameter count, every keras.applications weight fits the same-named kerazoo layer (and every kerazoo
    weight is covered), and both compute the same function once the weights are shared."""
    assert model.count_params() == reference.count_params()
    weighted = [layer for layer in reference.layers if layer.weights]
    for layer in weighted:
        model.get_layer(kerazoo_name(layer.name)).set_weights(layer.get_weights())
    assert len(weighted) == len([layer for layer in model.layers if layer.weights])
    x = np.random.default_rng(0).uniform(0, 255, size=(2, *model.input_shape[1:])).astype("float32")
    ours = keras.ops.convert_to_numpy(model(x, training=False))
    theirs = keras.ops.convert_to_numpy(reference(x, training=False))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * float(np.abs(theirs).max()))


def assert_drop_path_identity_at_inference(name, **kwargs):
    """drop_path_rate > 0 changes nothing at inference (same weights) and changes the training-mode output.

    Returns the model with drop path."""
    plain = create_model(name, classifier_activation=None, **kwargs)
    dropped = create_model(name, classifier_activation=None, drop_path_rate=0.5, **kwargs)
    assert any("drop_path" in layer.name for layer in dropped.layers)
    for layer in plain.layers:  # by name: drop-path layers shift the order of the other layers
        dropped.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(1).uniform(0, 1, size=(4, *plain.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(dropped(x, training=False)), keras.ops.convert_to_numpy(plain(x, training=False)),
        rtol=1e-6, atol=1e-6,
    )
    assert not np.allclose(
        keras.ops.convert_to_numpy(dropped(x, training=True)), keras.ops.convert_to_numpy(plain(x, training=True))
    )
    return dropped


def test_resnet50v2_equals_keras_applications():
    model = resnet_v2.ResNet50V2(classifier_activation=None)
    reference = keras.applications.ResNet50V2(weights=None, classifier_activation=None)
    assert model.count_params() == 25_613_800 and model.input_shape == (None, 224, 224, 3)
    assert_equals_keras(model, reference)


@pytest.mark.slow
@pytest.mark.parametrize("depth, params", [(101, 44_675_560), (152, 60_380_648)])
def test_deep_resnet_v2_equal_keras_applications(depth, params):
    model = getattr(resnet_v2, f"ResNet{depth}V2")(classifier_activation=None)
    reference = getattr(keras.applications, f"ResNet{depth}V2")(weights=None, classifier_activation=None)
    assert model.count_params() == params
    assert_equals_keras(model, reference)


def test_stride_sits_in_the_last_block_of_a_stage():
    model = resnet_v2.ResNet50V2(input_shape=(64, 64, 3), include_top=False)
    assert model.output_shape == (None, 2, 2, 2048)
    assert model.get_layer("stage1_block1_0_conv").strides == (1, 1)  # projection without stride
    assert model.get_layer("stage1_block3_2_conv").strides == (2, 2)
    assert model.get_layer("stage1_block3_0_pool").strides == (2, 2)  # 1x1 max-pool shortcut
    assert model.get_layer("stage4_block3_2_conv").strides == (1, 1)  # the last stage does not stride
    assert "stem_bn" not in [layer.name for layer in model.layers]  # the first block normalizes


def test_resnet50v2_feature_taps():
    model = create_model("resnet50v2", features_only=True, input_shape=(64, 64, 3))
    assert [f["layer"] for f in model.feature_info] == [
        "stage1_block2_out", "stage2_block3_out", "stage3_block5_out", "post_relu"
    ]
    assert [(f["reduction"], f["channels"]) for f in model.feature_info] == [
        (4, 256), (8, 512), (16, 1024), (32, 2048)
    ]
    assert [tuple(out.shape[1:3]) for out in model.outputs] == [(16, 16), (8, 8), (4, 4), (2, 2)]


def test_drop_path_is_identity_at_inference():
    assert_drop_path_identity_at_inference("resnet50v2", input_shape=(32, 32, 3))
