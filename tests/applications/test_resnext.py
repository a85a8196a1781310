"""ResNeXt against torchvision's and timm's parameter counts."""

import pytest

from kerazoo.applications import create_model, resnext
from zoo_checks import trainable_params, assert_drop_path_identity_at_inference


def test_resnext50_32x4d_matches_torchvision():
    # torchvision.models.resnext50_32x4d: 25,028,904 parameters (BN statistics are buffers there).
    model = resnext.ResNeXt50_32x4d()
    assert trainable_params(model) == 25_028_904
    assert model.count_params() - trainable_params(model) == 68_224  # BN moving mean and variance
    assert model.output_shape == (None, 1000)
    conv = model.get_layer("stage2_block1_2_conv")
    assert conv.groups == 32 and conv.filters == 256 and conv.strides == (2, 2)  # the grouped 3x3 conv strides
    assert model.get_layer("stage1_block1_2_conv").filters == 128  # 32 groups x 4 channels
    assert model.get_layer("stage2_block1_1_conv").strides == (1, 1)
    assert not any(getattr(layer, "use_bias", False) for layer in model.layers if layer.name.endswith("_conv"))


@pytest.mark.slow
def test_resnext101_32x4d_matches_timm():
    # timm's resnext101_32x4d (torchvision has no 32x4d of depth 101): 44,177,704 parameters; 44.2M in the paper.
    assert trainable_params(resnext.ResNeXt101_32x4d(input_shape=(32, 32, 3))) == 44_177_704


def test_feature_taps_and_headless_shape():
    model = create_model("resnext50_32x4d", features_only=True, input_shape=(64, 64, 3))
    assert [(f["reduction"], f["channels"]) for f in model.feature_info] == [
        (2, 64), (4, 256), (8, 512), (16, 1024), (32, 2048)
    ]
    assert model.outputs[-1].shape == (None, 2, 2, 2048)


def test_drop_path_is_identity_at_inference():
    assert_drop_path_identity_at_inference("resnext50_32x4d", input_shape=(32, 32, 3))
