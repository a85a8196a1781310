"""Images made by optimization: class model visualization, feature inversion and DeepDream reach their goals."""

import numpy as np
from keras import ops

from kerazoo.visualize import class_model, deepdream, inversion
from kerazoo.visualize.occlusion import class_probabilities


def test_class_model_raises_the_class_score(items_model):
    # Measured: in 40 steps the "bag" logit goes from 14.0 (the noisy grey start) to 37.8, and the bag probability
    # from 2e-5 (a flat grey image) to 0.994.
    result = class_model(items_model, class_index=8, steps=40, learning_rate=4.0)
    probability_before = class_probabilities(items_model, np.full((28, 28, 1), 127.5, "float32"))[0, 8]
    probability_after = class_probabilities(items_model, result.image)[0, 8]
    assert result.score_after >= result.score_before + 10
    assert probability_after >= 0.9 and probability_after >= 3 * probability_before
    assert result.image.shape == (28, 28, 1) and 0 <= result.image.min() and result.image.max() <= 255


def test_inversion_lowers_the_feature_loss_by_90_percent(items_model, items_data):
    image = items_data[2][0]
    result = inversion(items_model, image, layer="c3_conv", steps=30, learning_rate=8.0)
    print("inversion", result.feature_loss_before, result.feature_loss_after)
    assert result.feature_loss_after <= 0.1 * result.feature_loss_before


def test_deepdream_amplifies_the_layer(items_model, items_data):
    result = deepdream(items_model, items_data[2][0], layer="c3_conv", octaves=2, steps=10, learning_rate=8.0)
    print("dream", result.activation_before, result.activation_after)
    assert result.activation_after >= 2 * result.activation_before
    assert result.image.shape == (28, 28, 1)
    assert not np.allclose(result.image, items_data[2][0])
    assert ops.convert_to_numpy(result.image).dtype == np.float32


def test_inversion_defaults_give_a_recognisable_image(items_model, items_data):
    from kerazoo.applications import create_model
    from kerazoo.visualize import inversion_layer

    layer = inversion_layer(items_model, "lenet5")  # the middle tap; ResNet-20: stage 2 of 3
    assert layer == "s4_pool"
    resnet = create_model("resnet20", input_shape=(28, 28, 1), classes=10)
    assert inversion_layer(resnet, "resnet20") == "stage2_block3_out"
    image = items_data[2][0]
    result = inversion(items_model, image, layer=layer)  # default steps, learning rate, TV weight, noise start
    # Measured 0.93: the item's silhouette comes back from noise.
    assert np.corrcoef(result.image.ravel(), image.ravel())[0, 1] >= 0.8
