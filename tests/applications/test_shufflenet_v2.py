"""ShuffleNet V2: torchvision's parameter counts, the split/concat/shuffle unit, shapes and single-channel inputs."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, shufflenet_v2

# torchvision.models.shufflenet_v2_x* "num_params" at 1000 classes. PyTorch keeps BatchNorm running statistics as
# buffers, Keras as non-trainable weights, so these are our *trainable* parameters.
TORCHVISION_PARAMS = {
    "shufflenetv2_x0_5": 1_366_792,
    "shufflenetv2_x1_0": 2_278_604,
    "shufflenetv2_x1_5": 3_503_624,
    "shufflenetv2_x2_0": 7_393_996,
}


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize(
    "name",
    [
        "shufflenetv2_x1_0",
        "shufflenetv2_x0_5",
        pytest.param("shufflenetv2_x1_5", marks=pytest.mark.slow),
        pytest.param("shufflenetv2_x2_0", marks=pytest.mark.slow),
    ],
)
def test_trainable_parameters_equal_torchvision(name):
    model = create_model(name, input_shape=(224, 224, 3))
    assert _count(model.trainable_weights) == TORCHVISION_PARAMS[name]
    # The rest is exactly the BatchNorm moving mean and variance (two per BatchNorm channel).
    bn_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    bn_channels = sum(layer.gamma.shape[0] for layer in bn_layers)
    assert model.count_params() == TORCHVISION_PARAMS[name] + 2 * bn_channels
    if name == "shufflenetv2_x1_0":
        assert model.count_params() == 2_294_784
        assert model.get_layer("stage4_block4_shuffle").output.shape == (None, 7, 7, 464)
        assert model.get_layer("top_relu").output.shape == (None, 7, 7, 1024)


def test_stride_one_unit_keeps_the_first_half_in_the_even_channels():
    inputs = keras.Input((None, None, 8))
    unit = keras.Model(inputs, shufflenet_v2.shuffle_unit(inputs, 8, 1, name="unit"))
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 8)).astype("float32")
    out = keras.ops.convert_to_numpy(unit(x, training=False))
    # split -> [x[..., :4], branch(x[..., 4:])] -> shuffle(2): the untouched half lands on channels 0, 2, 4, 6.
    np.testing.assert_array_equal(out[..., 0::2], x[..., :4])
    assert not np.allclose(out[..., 1::2], x[..., 4:])


def test_stride_two_unit_doubles_channels_with_two_branches():
    inputs = keras.Input((16, 16, 24))
    unit = keras.Model(inputs, shufflenet_v2.shuffle_unit(inputs, 116, 2, name="unit"))
    assert unit.output_shape == (None, 8, 8, 116)
    assert unit.get_layer("unit_branch1_pw_conv").kernel.shape == (1, 1, 24, 58)
    assert unit.get_layer("unit_branch2_pw1_conv").kernel.shape == (1, 1, 24, 58)


def test_single_channel_small_input():
    features = create_model("shufflenetv2_x0_5", features_only=True, input_shape=(32, 32, 1))
    assert [f["channels"] for f in features.feature_info] == [24, 24, 48, 96, 192]
    assert [out.shape[1] for out in features.outputs] == [16, 8, 4, 2, 1]
