"""AlexNet and ZFNet: the papers' parameter counts and feature-map sizes, the LRN knob and the heads."""

import keras
import numpy as np
import pytest

from kerazoo.applications import alexnet, create_model
from kerazoo.layers import LocalResponseNormalization


def conv(k, cin, cout, groups=1):
    return k * k * (cin // groups) * cout + cout


def dense(cin, cout):
    return cin * cout + cout


# AlexNet, the paper's figure 2: two towers, so conv2, conv4 and conv5 see half of their input channels.
ALEXNET_PARAMS = (
    conv(11, 3, 96) + conv(5, 96, 256, groups=2) + conv(3, 256, 384) + conv(3, 384, 384, groups=2)
    + conv(3, 384, 256, groups=2) + dense(6 * 6 * 256, 4096) + dense(4096, 4096) + dense(4096, 1000)
)
# ZFNet, the paper's figure 3: dense connections throughout.
ZFNET_PARAMS = (
    conv(7, 3, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384) + conv(3, 384, 256)
    + dense(6 * 6 * 256, 4096) + dense(4096, 4096) + dense(4096, 1000)
)


def test_alexnet_reproduces_the_papers_two_tower_count_and_sizes():
    assert ALEXNET_PARAMS == 60_965_224  # the count quoted for the paper's network (and Caffe's bvlc_alexnet)
    model = alexnet.AlexNet()
    assert model.input_shape == (None, 227, 227, 3)
    assert model.count_params() == 60_965_224
    sizes = [model.get_layer(f"stage{s}_relu").output.shape[1:] for s in range(1, 6)]
    assert sizes == [(55, 55, 96), (27, 27, 256), (13, 13, 384), (13, 13, 384), (13, 13, 256)]
    assert model.get_layer("stage5_pool").output.shape[1:] == (6, 6, 256)
    # The towers: conv2's kernel sees 48 of conv1's 96 maps.
    assert tuple(model.get_layer("stage2_conv").kernel.shape) == (5, 5, 48, 256)
    assert tuple(model.get_layer("stage3_conv").kernel.shape) == (3, 3, 256, 384)


def test_zfnet_reproduces_figure_3():
    model = alexnet.ZFNet()
    assert model.count_params() == ZFNET_PARAMS == 62_357_608
    names = ["stage1_relu", "stage1_pool", "stage2_relu", "stage2_pool", "stage3_relu", "stage5_pool"]
    sizes = [model.get_layer(n).output.shape[1:3] for n in names]
    assert sizes == [(110, 110), (55, 55), (26, 26), (13, 13), (13, 13), (6, 6)]


@pytest.mark.parametrize("builder", [alexnet.AlexNet, alexnet.ZFNet])
def test_local_response_norm_knob(builder):
    shape = (67, 67, 3)
    with_lrn = builder(input_shape=shape, classes=5)
    without = builder(input_shape=shape, classes=5, local_response_norm=False)
    lrn = [layer.name for layer in with_lrn.layers if isinstance(layer, LocalResponseNormalization)]
    assert lrn == ["stage1_lrn", "stage2_lrn"]
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in without.layers)
    assert with_lrn.count_params() == without.count_params()  # LRN has no weights
    x = np.random.default_rng(0).uniform(0, 255, size=(1, *shape)).astype("float32")
    without.set_weights(with_lrn.get_weights())
    assert not np.allclose(keras.ops.convert_to_numpy(with_lrn(x)), keras.ops.convert_to_numpy(without(x)))


def test_heads_and_dropout():
    model = alexnet.AlexNet(input_shape=(67, 67, 3), classes=7, classifier_activation=None)
    assert model.output_shape == (None, 7)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [(d.name, d.rate) for d in dropouts] == [("head_dropout1", 0.5), ("head_dropout2", 0.5)]
    assert [model.get_layer(n).units for n in ("head_fc1", "head_fc2", "predictions")] == [4096, 4096, 7]
    no_dropout = alexnet.AlexNet(input_shape=(67, 67, 3), dropout=0.0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in no_dropout.layers)
    notop = alexnet.AlexNet(input_shape=(99, 99, 3), include_top=False)
    assert notop.output_shape == (None, 2, 2, 256)
    assert alexnet.ZFNet(input_shape=(99, 99, 3), include_top=False, pooling="max").output_shape == (None, 256)


def test_invalid_knobs_and_sizes():
    with pytest.raises(ValueError, match=r"Invalid dropout: expected a probability in \[0, 1\)\. Received: dropout=1\.0"):
        alexnet.AlexNet(dropout=1.0)
    with pytest.raises(ValueError, match="at least 67"):
        create_model("alexnet", input_shape=(66, 66, 3))
    with pytest.raises(ValueError, match="at least 63"):
        create_model("zfnet", input_shape=(62, 62, 3))
