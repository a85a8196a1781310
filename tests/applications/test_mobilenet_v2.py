"""MobileNetV2: the same network as keras.applications.MobileNetV2 for every width, built from the paper's table."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, mobilenet_v2


def _weight_shapes(model):
    return [tuple(w.shape) for w in model.weights]


@pytest.mark.parametrize(
    "name, alpha",
    [
        ("mobilenetv2_035", 0.35),
        ("mobilenetv2", 1.0),
        ("mobilenetv2_140", 1.4),
        # The other widths keras.applications has ImageNet weights for, through the alpha argument.
        pytest.param("mobilenetv2", 0.5, marks=pytest.mark.slow),
        pytest.param("mobilenetv2", 0.75, marks=pytest.mark.slow),
        pytest.param("mobilenetv2", 1.3, marks=pytest.mark.slow),
    ],
)
def test_equals_keras_applications(name, alpha):
    ours = create_model(name, input_shape=(224, 224, 3), alpha=alpha)
    reference = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=alpha, weights=None)
    assert ours.count_params() == reference.count_params()
    assert _weight_shapes(ours) == _weight_shapes(reference)  # same layers, same order, same shapes


def test_same_outputs_as_keras_applications_with_its_weights():
    kwargs = dict(input_shape=(32, 32, 3), alpha=0.35, classes=10)
    reference = keras.applications.MobileNetV2(weights=None, **kwargs)
    ours = mobilenet_v2.MobileNetV2(**kwargs)
    ours.set_weights(reference.get_weights())
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x, training=False)),
        keras.ops.convert_to_numpy(reference(x, training=False)),
        rtol=1e-5, atol=1e-6,
    )


def test_blocks_come_from_the_paper_table():
    assert sum(row.repeats for row in mobilenet_v2.BLOCKS) == 17
    model = mobilenet_v2.MobileNetV2(input_shape=(32, 32, 1), include_top=False)
    blocks = {layer.name.rsplit("_", 2)[0] for layer in model.layers if "_dw_conv" in layer.name}
    assert len(blocks) == 17
    # Identity shortcuts exactly where stride is 1 and the channels match: 10 of the 17 blocks.
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 10 and "stage5_block1_add" not in adds and "stage5_block2_add" in adds
    assert "stage1_block1_expand_conv" not in [layer.name for layer in model.layers]  # t = 1: no expansion
    assert model.get_layer("stage2_block1_expand_conv").kernel.shape == (1, 1, 16, 96)
    assert model.get_layer("stem_conv").kernel.shape == (3, 3, 1, 32)
    assert model.output_shape == (None, 1, 1, 1280)


def test_width_multiplier_rounding():
    assert [mobilenet_v2.make_divisible(v) for v in (32 * 0.35, int(16 * 0.35), int(24 * 0.35), 1280 * 1.4)] == [
        16, 8, 8, 1792]
    assert mobilenet_v2.MobileNetV2_035(input_shape=(32, 32, 3), include_top=False).output_shape[-1] == 1280
    with pytest.raises(ValueError, match=r"Invalid alpha: expected a positive width multiplier\. Received: alpha=-1"):
        mobilenet_v2.MobileNetV2(alpha=-1)


def test_bn_momentum_defaults_to_keras_applications_and_can_be_shortened():
    def momenta(model):
        return {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}

    assert momenta(mobilenet_v2.MobileNetV2(input_shape=(32, 32, 1), alpha=0.35, include_top=False)) == {0.999}
    short = create_model("mobilenetv2_035", input_shape=(32, 32, 1), include_top=False, bn_momentum=0.99)
    assert momenta(short) == {0.99}
    expected = r"Invalid bn_momentum: expected a number in \[0, 1\)\. Received: bn_momentum=1"
    with pytest.raises(ValueError, match=expected):
        mobilenet_v2.MobileNetV2(bn_momentum=1)
