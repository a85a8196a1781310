"""ResNet v1: CIFAR ResNets against the paper, ImageNet ResNets against keras.applications and torchvision."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, resnet
from zoo_checks import trainable_params, assert_equals_keras, assert_drop_path_identity_at_inference


# --- CIFAR ResNets (the paper's table 6) -------------------------------------------------------------------------


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85)])
def test_cifar_parameter_counts_match_the_paper(depth, millions):
    assert round(trainable_params(getattr(resnet, f"ResNet{depth}")()) / 1e6, 2) == millions


def test_cifar_resnet20_shapes_and_drop_path():
    assert resnet.ResNet20(input_shape=(32, 32, 3)).output_shape == (None, 10)
    assert resnet.ResNet20(include_top=False).output_shape == (None, 8, 8, 64)
    assert_drop_path_identity_at_inference("resnet20", input_shape=(16, 16, 3))


# --- ImageNet ResNets -----------------------------------------------------------------------------------------------


def test_resnet50_equals_keras_applications():
    model = resnet.ResNet50(classifier_activation=None)
    reference = keras.applications.ResNet50(weights=None, classifier_activation=None)
    assert model.count_params() == 25_636_712 and model.input_shape == (None, 224, 224, 3)
    assert_equals_keras(model, reference)


@pytest.mark.slow
@pytest.mark.parametrize("depth, params", [(101, 44_707_176), (152, 60_419_944)])
def test_deep_resnets_equal_keras_applications(depth, params):
    model = getattr(resnet, f"ResNet{depth}")(classifier_activation=None)
    reference = getattr(keras.applications, f"ResNet{depth}")(weights=None, classifier_activation=None)
    assert model.count_params() == params
    assert_equals_keras(model, reference)


# torchvision's counts (trainable parameters: it keeps BN statistics as buffers) and the conv biases Keras' v1 adds.
TORCHVISION = {18: (11_689_512, 4_800), 34: (21_797_672, 8_512), 50: (25_557_032, 26_560),
               101: (44_549_160, 52_672), 152: (60_192_808, 75_712)}


@pytest.mark.parametrize(
    "depth", [18, 34, 50, pytest.param(101, marks=pytest.mark.slow), pytest.param(152, marks=pytest.mark.slow)]
)
def test_bias_free_resnets_match_torchvision(depth):
    model = getattr(resnet, f"ResNet{depth}")(conv_bias=False, input_shape=(32, 32, 3))
    assert trainable_params(model) == TORCHVISION[depth][0]
    assert not any(getattr(layer, "use_bias", False) for layer in model.layers if layer.name.endswith("_conv"))


def test_resnet18_shapes_padding_biases_and_drop_path():
    model = resnet.ResNet18(input_shape=(64, 64, 3))
    assert model.output_shape == (None, 1000)
    assert trainable_params(model) == sum(TORCHVISION[18])  # keras-style conv biases by default
    # Strided 3x3 convs pad symmetrically (Caffe/PyTorch), through an explicit padding layer.
    assert model.get_layer("stage2_block1_1_pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("stage2_block1_1_conv").padding == "valid"
    assert "stage1_block1_0_conv" not in [layer.name for layer in model.layers]  # identity where shapes agree
    top_less = resnet.ResNet18(input_shape=(64, 64, 3), include_top=False, classes=5)
    assert top_less.output_shape == (None, 2, 2, 512)
    dropped = assert_drop_path_identity_at_inference("resnet18", input_shape=(32, 32, 3))
    rates = [layer.rate for layer in dropped.layers if layer.name.endswith("_drop_path")]
    np.testing.assert_allclose(rates, 0.5 * np.arange(1, 9) / 8)  # linear decay over the 8 blocks


def test_resnet50_feature_taps_and_stride_on_first_1x1_conv():
    model = create_model("resnet50", features_only=True, input_shape=(64, 64, 3))
    assert [(f["reduction"], f["channels"]) for f in model.feature_info] == [
        (2, 64), (4, 256), (8, 512), (16, 1024), (32, 2048)
    ]
    assert [tuple(out.shape[1:3]) for out in model.outputs] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    # As in keras.applications (and the paper's Caffe model) the stride sits on the first 1x1 conv.
    assert model.get_layer("stage2_block1_1_conv").strides == (2, 2)
    assert model.get_layer("stage2_block1_2_conv").strides == (1, 1)
    assert model.get_layer("stage2_block1_0_conv").strides == (2, 2)
