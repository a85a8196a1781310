"""SqueezeNet 1.0 and 1.1: parameter counts equal torchvision's, the paper's convolutional head, fire modules."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, squeezenet


@pytest.mark.parametrize("name, params", [("squeezenet1_0", 1_248_424), ("squeezenet1_1", 1_235_496)])
def test_parameter_count_equals_torchvision(name, params):
    # torchvision.models.squeezenet1_0 / squeezenet1_1 at 1000 classes (no BatchNorm, so no buffers to subtract).
    model = create_model(name, input_shape=(224, 224, 3))
    assert model.count_params() == params
    assert model.output_shape == (None, 1000)
    # 'same' padding keeps the feature maps at exact strides: 224 / 16 = 14.
    assert model.get_layer("stage3_block1_out" if name == "squeezenet1_0" else "stage3_block4_out").output.shape == (
        None, 14, 14, 512)


def test_paper_head_is_a_relu_convolution_without_dense_layers():
    model = squeezenet.SqueezeNet1_1(input_shape=(32, 32, 3), classes=5, classifier_activation=None)
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert model.get_layer("head_conv").kernel.shape == (1, 1, 512, 5)
    logits = keras.ops.convert_to_numpy(model(np.random.default_rng(0).normal(size=(3, 32, 32, 3)), training=False))
    assert logits.shape == (3, 5) and (logits >= 0).all()  # conv10 is followed by ReLU, as in the paper
    probs = squeezenet.SqueezeNet1_1(input_shape=(32, 32, 3), classes=5)(np.zeros((1, 32, 32, 3)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.sum(probs)), 1.0, rtol=1e-5)


def test_fire_module_concatenates_both_expand_branches():
    model = squeezenet.SqueezeNet1_0(input_shape=(32, 32, 1), include_top=False)
    assert model.output_shape == (None, 2, 2, 512)
    fire = model.get_layer("stage1_block3_out")  # fire4: squeeze 32, expand 128 + 128
    assert fire.output.shape[-1] == 256
    assert model.get_layer("stage1_block3_squeeze_conv").kernel.shape == (1, 1, 128, 32)
    assert model.get_layer("stage1_block3_expand3x3_conv").kernel.shape == (3, 3, 32, 128)


def test_dropout_argument():
    without = squeezenet.SqueezeNet1_1(input_shape=(32, 32, 3), dropout=0.0)
    assert "head_dropout" not in [layer.name for layer in without.layers]
    assert squeezenet.SqueezeNet1_1(input_shape=(32, 32, 3)).get_layer("head_dropout").rate == 0.5
    with pytest.raises(ValueError, match=r"Invalid dropout: expected a rate in \[0, 1\)\. Received: dropout=1\.0"):
        squeezenet.SqueezeNet1_0(dropout=1.0)
