"""VGG: counts equal to keras.applications (VGG16/19) and to the paper's table 1 / torchvision (the others)."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, vgg

# The paper's table 1, written out independently of vgg.STAGES: the conv widths of configurations A, B, D, E.
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def expected_params(depth, side=224, classes=1000, batch_norm=False):
    """(trainable, total): 3x3 convs with bias, BN gamma/beta (+ moving mean/var), FC 4096-4096-classes."""
    widths = [w for w in CONFIGS[depth] if w != "M"]
    cin, trainable, moving = 3, 0, 0
    for w in widths:
        trainable += 9 * cin * w + w + (2 * w if batch_norm else 0)
        moving += 2 * w if batch_norm else 0
        cin = w
    flat = (side // 32) ** 2 * 512
    trainable += flat * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * classes + classes
    return trainable, trainable + moving


# keras.applications' and torchvision's published totals at 224x224x3 with 1000 classes (torchvision counts only
# trainable parameters; its vgg*_bn keep the conv bias as we do).
REFERENCE_TRAINABLE = {
    (11, False): 132_863_336, (13, False): 133_047_848, (16, False): 138_357_544, (19, False): 143_667_240,
    (11, True): 132_868_840, (13, True): 133_053_736, (16, True): 138_365_992, (19, True): 143_678_248,
}
BUILDERS = {
    (11, False): vgg.VGG11, (13, False): vgg.VGG13, (16, False): vgg.VGG16, (19, False): vgg.VGG19,
    (11, True): vgg.VGG11_BN, (13, True): vgg.VGG13_BN, (16, True): vgg.VGG16_BN, (19, True): vgg.VGG19_BN,
}


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.parametrize("ours, theirs", [(vgg.VGG16, keras.applications.VGG16), (vgg.VGG19, keras.applications.VGG19)])
def test_counts_equal_keras_applications(ours, theirs):
    model = ours()
    reference = theirs(weights=None)
    assert model.count_params() == reference.count_params()
    assert model.count_params() == REFERENCE_TRAINABLE[(16 if ours is vgg.VGG16 else 19, False)]


def test_vgg16_features_equal_keras_applications_with_copied_weights():
    # Same layers in the same order: keras.applications' weights load as they are and give the same features.
    ours = vgg.VGG16(include_top=False, input_shape=(32, 32, 3))
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    ours.set_weights(reference.get_weights())
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(reference(x)), rtol=1e-5, atol=1e-5
    )


def test_reference_totals_follow_from_table_1():
    for (depth, batch_norm), total in REFERENCE_TRAINABLE.items():
        assert expected_params(depth, batch_norm=batch_norm)[0] == total


@pytest.mark.parametrize("key", list(BUILDERS), ids=lambda k: f"vgg{k[0]}{'_bn' * k[1]}")
def test_counts_match_table_1_at_small_size(key):
    depth, batch_norm = key
    model = BUILDERS[key](input_shape=(32, 32, 3), classes=10)
    trainable, total = expected_params(depth, side=32, classes=10, batch_norm=batch_norm)
    assert trainable_count(model) == trainable
    assert model.count_params() == total
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) + 3 == depth
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == batch_norm


@pytest.mark.slow
@pytest.mark.parametrize("key", list(BUILDERS), ids=lambda k: f"vgg{k[0]}{'_bn' * k[1]}")
def test_counts_at_224_equal_the_references(key):
    assert trainable_count(BUILDERS[key]()) == REFERENCE_TRAINABLE[key]


def test_head_has_the_papers_dropout_and_no_top_shapes():
    model = vgg.VGG11(input_shape=(32, 32, 3), classes=4)
    assert model.output_shape == (None, 4)
    dropouts = [(layer.name, layer.rate) for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [("head_dropout1", 0.5), ("head_dropout2", 0.5)]
    assert [model.get_layer(n).units for n in ("head_fc1", "head_fc2")] == [4096, 4096]
    notop = create_model("vgg13_bn", include_top=False, input_shape=(96, 64, 3))
    assert notop.output_shape == (None, 3, 2, 512)
    assert create_model("vgg11", include_top=False, pooling="avg", input_shape=(64, 64, 1)).output_shape == (None, 512)
    with pytest.raises(ValueError, match="Received: dropout=-0.1"):
        vgg.VGG16(dropout=-0.1)
