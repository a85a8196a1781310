"""Pre-activation ResNets against keras.applications' ResNetV2."""

import keras
import pytest

from kerazoo.applications import create_model, resnet_v2
from zoo_checks import assert_equals_keras, assert_drop_path_identity_at_inference


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
