"""Wide ResNets (WRN-d-k) against the paper's parameter counts."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, wide_resnet
from zoo_checks import trainable_params, assert_drop_path_identity_at_inference

# Trainable parameters of the authors' bias-free architecture with 10 classes (the paper's tables round them).
COUNTS = {(28, 10): (36_479_194, 36.5), (16, 8): (10_961_370, 11.0), (40, 4): (8_949_210, 8.9),
          (16, 4): (2_748_890, 2.7)}


@pytest.mark.parametrize("depth, width", list(COUNTS))
def test_parameter_counts_match_the_paper(depth, width):
    model = getattr(wide_resnet, f"WRN{depth}_{width}")()
    exact, paper_millions = COUNTS[depth, width]
    assert trainable_params(model) == exact
    assert round(exact / 1e6, 1) == paper_millions


def test_shapes_and_projection_shortcuts():
    model = wide_resnet.WRN16_4(input_shape=(32, 32, 3), classes=100)
    assert model.output_shape == (None, 100)
    assert wide_resnet.WRN16_4(include_top=False).output_shape == (None, 8, 8, 256)
    # 16 → 64 channels in the first block: a 1x1 projection of the pre-activation; identity in the second block.
    projection = model.get_layer("stage1_block1_0_conv")
    assert projection.input.name == model.get_layer("stage1_block1_preact_relu").output.name
    assert "stage1_block2_0_conv" not in [layer.name for layer in model.layers]


def test_dropout_between_convs_is_identity_at_inference():
    plain = wide_resnet.WRN16_4(classifier_activation=None)
    dropped = wide_resnet.WRN16_4(classifier_activation=None, dropout_rate=0.3)
    block = dropped.get_layer("stage2_block1_dropout")
    assert block.rate == 0.3 and block.input.name == dropped.get_layer("stage2_block1_1_relu").output.name
    for layer in plain.layers:  # by name: drop-path layers shift the order of the other layers
        dropped.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(0).uniform(0, 1, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dropped(x)), keras.ops.convert_to_numpy(plain(x)),
                               rtol=1e-6, atol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(dropped(x, training=True)),
                           keras.ops.convert_to_numpy(plain(x, training=True)))


def test_feature_taps():
    model = create_model("wrn16_4", features_only=True, input_shape=(32, 32, 3))
    assert [(f["reduction"], f["channels"]) for f in model.feature_info] == [(1, 64), (2, 128), (4, 256)]


def test_drop_path_is_identity_at_inference():
    assert_drop_path_identity_at_inference("wrn16_4", input_shape=(16, 16, 3))


@pytest.mark.parametrize("kwargs, message", [({"depth": 20}, "depth=20"), ({"width": 0}, "width=0")])
def test_bad_depth_or_width_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        wide_resnet.wrn_stages(**{"depth": 16, "width": 4, **kwargs})
    with pytest.raises(ValueError, match="dropout_rate=1.5"):
        wide_resnet.WRN16_4(dropout_rate=1.5)
