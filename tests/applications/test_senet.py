"""Squeeze-and-excitation: the block against a NumPy reference, SE-ResNets against the paper's counts."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, resnet, senet
from kerazoo.layers import squeeze_excite
from zoo_checks import trainable_params, assert_drop_path_identity_at_inference


def se_block_model(channels=32, ratio=8):
    inputs = keras.Input((5, 6, channels), name="images")
    return keras.Model(inputs, squeeze_excite(inputs, ratio, name="se"))


def test_squeeze_excite_matches_numpy():
    model = se_block_model()
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    x = rng.normal(size=(3, 5, 6, 32)).astype("float32")
    w1, b1 = model.get_layer("se_reduce").get_weights()
    w2, b2 = model.get_layer("se_expand").get_weights()
    squeezed = x.mean(axis=(1, 2))
    hidden = np.maximum(squeezed @ w1[0, 0] + b1, 0.0)
    gates = 1.0 / (1.0 + np.exp(-(hidden @ w2[0, 0] + b2)))
    expected = x * gates[:, None, None, :]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)


def test_squeeze_excite_layers_and_parameters():
    model = se_block_model(channels=32, ratio=8)
    assert [layer.name for layer in model.layers[1:]] == ["se_squeeze", "se_reduce", "se_expand", "se_scale"]
    assert model.count_params() == 2 * 32 * 4 + 4 + 32
    assert se_block_model(channels=8, ratio=16).get_layer("se_reduce").filters == 1  # at least one unit


@pytest.mark.parametrize("ratio", [0, 2.5, True])
def test_squeeze_excite_rejects_bad_ratio(ratio):
    with pytest.raises(ValueError, match=f"Received: ratio={ratio!r}"):
        squeeze_excite(keras.Input((4, 4, 8)), ratio, name="se")


def test_seresnet50_matches_the_paper():
    model = senet.SEResNet50()
    # 28,088,024 (the authors' Caffe model and its PyTorch port; 28.1M in the paper): torchvision's bias-free
    # ResNet-50 (25,557,032) plus 2,530,992 in the SE blocks.
    assert trainable_params(model) == 28_088_024 == 25_557_032 + 2_530_992
    assert model.get_layer("stage4_block3_se_reduce").filters == 2048 // 16
    assert model.get_layer("stage2_block1_1_conv").strides == (2, 2)  # Caffe: stride on the first 1x1 conv
    # SE rescales the residual branch before the addition.
    assert model.get_layer("stage1_block1_add").input[1].name == model.get_layer("stage1_block1_se_scale").output.name


@pytest.mark.slow
def test_seresnet101_parameters():
    assert trainable_params(senet.SEResNet101(input_shape=(32, 32, 3))) == 49_326_872


def test_seresnet20_adds_se_to_resnet20():
    model = senet.SEResNet20()
    assert trainable_params(model) - trainable_params(resnet.ResNet20()) == 3 * 49 + 3 * 162 + 3 * 580
    assert model.output_shape == (None, 10)
    assert senet.SEResNet20(include_top=False).output_shape == (None, 8, 8, 64)
    with pytest.raises(ValueError, match="se_ratio=0"):
        senet.SEResNet20(se_ratio=0)


def test_se_ratio_knob_and_feature_taps():
    model = senet.SEResNet20(se_ratio=4)
    assert model.get_layer("stage3_block3_se_reduce").filters == 16
    features = create_model("seresnet50", features_only=True, input_shape=(64, 64, 3))
    assert [(f["reduction"], f["channels"]) for f in features.feature_info] == [
        (2, 64), (4, 256), (8, 512), (16, 1024), (32, 2048)
    ]
    assert features.outputs[-1].shape == (None, 2, 2, 2048)


def test_drop_path_is_identity_at_inference():
    assert_drop_path_identity_at_inference("seresnet20", input_shape=(16, 16, 3))
