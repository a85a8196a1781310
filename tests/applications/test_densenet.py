"""DenseNet: equal to keras.applications' DenseNet-121/169/201, and DenseNet-BC-100 as in the paper's table 2."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, densenet

# keras.applications.DenseNet121/169/201(weights=None).count_params() at 224x224x3 with 1000 classes (Keras 3.15).
KERAS_COUNTS = {"densenet121": 8_062_504, "densenet169": 14_307_880, "densenet201": 20_242_984}
KERAS_BUILDERS = {
    "densenet121": keras.applications.DenseNet121,
    "densenet169": keras.applications.DenseNet169,
    "densenet201": keras.applications.DenseNet201,
}


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("name", sorted(KERAS_COUNTS))
def test_parameter_count_equals_keras_applications(name):
    model = create_model(name)
    assert model.count_params() == KERAS_COUNTS[name]
    assert model.output_shape == (None, 1000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERAS_COUNTS))
def test_recorded_counts_are_keras_applications(name):
    assert KERAS_BUILDERS[name](weights=None).count_params() == KERAS_COUNTS[name]


def test_same_layers_and_outputs_as_keras_applications():
    """Same layer types and weight shapes in the same order, so keras.applications' weights transfer as they are
    and give the same outputs."""
    shape = (64, 64, 3)
    theirs = keras.applications.DenseNet121(weights=None, input_shape=shape, include_top=False)
    ours = densenet.DenseNet121(input_shape=shape, include_top=False)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    rng = np.random.default_rng(0)
    # Non-trivial BatchNorm scales, offsets and statistics (all positive, so valid variances), so that the
    # comparison exercises every layer; the kernels keep their random initialization.
    theirs.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") if w.ndim == 1 else w
                        for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    x = rng.uniform(0, 1, (1, *shape)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    actual = keras.ops.convert_to_numpy(ours(x, training=False))
    assert actual.shape == (1, 2, 2, 1024)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_block_counts_are_the_papers():
    """Table 1 of the paper (ImageNet, k = 32) and depth 100 = 6 x 16 + 4 for DenseNet-BC (k = 12)."""
    assert densenet.DENSENETS["densenet121"].blocks == (6, 12, 24, 16)
    assert densenet.DENSENETS["densenet169"].blocks == (6, 12, 32, 32)
    assert densenet.DENSENETS["densenet201"].blocks == (6, 12, 48, 32)
    bc = densenet.DENSENETS["densenetbc100"]
    assert (bc.growth_rate, bc.compression, bc.stem_filters) == (12, 0.5, 24)
    # 2 convs per bottleneck layer, one per transition, the first conv and the classifier.
    assert 2 * sum(bc.blocks) + (len(bc.blocks) - 1) + 2 == 100


def test_densenet_bc_100_matches_table_2():
    model = create_model("densenetbc100")
    # 0.8M in the paper's table 2; 769,162 trainable parameters, as in the common PyTorch reimplementations
    # (andreasveit/densenet-pytorch). Keras also counts the BatchNorm moving statistics.
    assert trainable_count(model) == 769_162
    assert round(trainable_count(model) / 1e6, 1) == 0.8
    assert model.count_params() == 793_150
    assert model.output_shape == (None, 10)
    # Channels: 24 + 16 x 12 = 216 → 108 after compression; 108 + 192 = 300 → 150; 150 + 192 = 342.
    assert model.get_layer("stage1_transition_conv").output.shape[-1] == 108
    assert model.get_layer("stage2_transition_conv").output.shape[-1] == 150
    assert densenet.DenseNetBC100(include_top=False).output_shape == (None, 8, 8, 342)


def test_dropout_after_every_conv_but_the_first():
    model = densenet.DenseNetBC100(dropout_rate=0.2)
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    dropouts = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [c.replace("_conv", "_dropout") for c in convs[1:]]
    assert len(dropouts) == 98 and model.count_params() == 793_150


def test_invalid_dropout_rate():
    with pytest.raises(ValueError, match=r"Invalid dropout_rate: .* Received: dropout_rate=1.0"):
        densenet.DenseNetBC100(dropout_rate=1.0)
