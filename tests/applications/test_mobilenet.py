"""MobileNet v1: the same network as keras.applications.MobileNet (counts, weight shapes, outputs) and its knobs."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, mobilenet


def _weight_shapes(model):
    return [tuple(w.shape) for w in model.weights]


@pytest.mark.parametrize(
    "name, alpha", [("mobilenet", 1.0), ("mobilenet_075", 0.75), ("mobilenet_050", 0.5), ("mobilenet_025", 0.25)]
)
def test_equals_keras_applications(name, alpha):
    ours = create_model(name, input_shape=(224, 224, 3))
    reference = keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=alpha, weights=None)
    assert ours.count_params() == reference.count_params()
    # Same weights in the same order; only keras' 1x1 "conv_preds" kernel is our Dense kernel with two unit axes.
    expected = _weight_shapes(reference)
    expected[-2] = expected[-2][2:]
    assert _weight_shapes(ours) == expected


def test_depth_multiplier_equals_keras_applications():
    ours = mobilenet.MobileNet_050(input_shape=(224, 224, 3), depth_multiplier=2)
    reference = keras.applications.MobileNet(input_shape=(224, 224, 3), alpha=0.5, depth_multiplier=2, weights=None)
    assert ours.count_params() == reference.count_params()
    assert ours.get_layer("stage1_block1_dw_conv").output.shape[-1] == 2 * 16


def test_same_outputs_as_keras_applications_with_its_weights():
    kwargs = dict(input_shape=(32, 32, 3), alpha=0.25, classes=10)
    reference = keras.applications.MobileNet(weights=None, **kwargs)
    ours = mobilenet.MobileNet(**kwargs)
    ours.set_weights([np.reshape(w, v.shape) for w, v in zip(reference.get_weights(), ours.weights)])
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x, training=False)),
        keras.ops.convert_to_numpy(reference(x, training=False)),
        rtol=1e-5, atol=1e-6,
    )


def test_single_channel_input_and_strides():
    model = mobilenet.MobileNet_025(input_shape=(64, 64, 1), include_top=False)
    assert model.output_shape == (None, 2, 2, 256)
    assert model.get_layer("stem_conv").kernel.shape == (3, 3, 1, 8)
    assert model.get_layer("stage4_block6_out").output.shape == (None, 4, 4, 128)


def test_invalid_family_arguments():
    with pytest.raises(ValueError, match=r"Invalid alpha: expected a positive width multiplier\. Received: alpha=0"):
        mobilenet.MobileNet(alpha=0)
    with pytest.raises(ValueError, match=r"Invalid depth_multiplier: .* Received: depth_multiplier=1\.5"):
        mobilenet.MobileNet(depth_multiplier=1.5)
    with pytest.raises(ValueError, match=r"Invalid dropout: .* Received: dropout=-0\.1"):
        mobilenet.MobileNet(dropout=-0.1)
