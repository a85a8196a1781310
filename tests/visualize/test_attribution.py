"""Saliency, guided backpropagation, Grad-CAM and occlusion look at the item, on a model trained in the test.

The items sit on a black background (tests/visualize/conftest.py), so "the item's pixels" are the non-zero ones; they
cover 13-24 % of the image. Figures measured on the first 8 test images (the thresholds leave a margin):
saliency puts 55-69 % of its absolute mass on the item's pixels and 75-87 % within 2 pixels of them; guided
backpropagation 58-72 % and 87-90 %; Grad-CAM (a 5x5 map from layer s4_pool, upsampled) puts 53-66 % of its mass
within 2 pixels of the item, which covers 31-38 % of the image.
"""

import keras
import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from kerazoo.visualize import gradcam, guided_backprop, guided_model, occlusion_map, saliency
from kerazoo.visualize.occlusion import class_probabilities

FIRST = 8


def item_masks(images):
    """(on the item, within 2 pixels of it) boolean masks."""
    on = images[..., 0] > 0
    near = np.stack([binary_dilation(mask, iterations=2) for mask in on])
    return on, near


def mass_fractions(maps, masks):
    return np.array([m[mask].sum() / m.sum() for m, mask in zip(maps, masks)])


@pytest.fixture(scope="module")
def test_images(items_data):
    return items_data[2][:FIRST], items_data[3][:FIRST]


def test_saliency_and_guided_backprop_mass_is_on_the_item(items_model, test_images):
    images, labels = test_images
    on, near = item_masks(images)
    assert on.mean() < 0.25
    for method, on_min, near_min in ((saliency, 0.45, 0.70), (guided_backprop, 0.50, 0.80)):
        maps = [method(items_model, image, class_index=int(label)) for image, label in zip(images, labels)]
        on_share, near_share = mass_fractions(maps, on), mass_fractions(maps, near)
        assert on_share.mean() >= on_min and near_share.mean() >= near_min, method.__name__
        assert np.all(on_share > 2 * on.mean(axis=(1, 2)))  # at least twice as dense on the item as uniform


def test_gradcam_mass_is_near_the_item_and_says_its_layer(items_model, test_images):
    images, labels = test_images
    _, near = item_masks(images)
    cams = [gradcam(items_model, image, class_index=int(label)) for image, label in zip(images, labels)]
    assert {cam.layer for cam in cams} == {"s4_pool"}  # the last layer with spatial maps (5x5; c5_conv is 1x1)
    share = mass_fractions([cam.heatmap for cam in cams], near)
    assert share.mean() >= 0.45
    assert np.all(share > near.mean(axis=(1, 2)))  # denser near the item than elsewhere
    for cam in cams:
        assert cam.heatmap.shape == (28, 28) and cam.heatmap.max() == pytest.approx(1.0)


def test_occluding_the_item_drops_the_true_class_more_than_occluding_background(items_model, test_images):
    # The model is very confident, so a 10x10 patch is needed to move its probabilities. Measured: the true-class
    # probability drops by 0.12 on average (up to 0.42) with the patch on the item, by <= 3e-5 with it on background.
    images, labels = test_images
    on, _ = item_masks(images)
    item_drops, background_drops = [], []
    for image, label, mask in zip(images, labels, on):
        probability = occlusion_map(items_model, image, class_index=int(label), patch=10, stride=2)
        unoccluded = float(class_probabilities(items_model, image)[0, label])
        item_drops.append(unoccluded - probability[mask].mean())
        background_drops.append(unoccluded - probability[~binary_dilation(mask, iterations=5)].mean())
    item_drops, background_drops = np.array(item_drops), np.array(background_drops)
    assert np.all(item_drops >= background_drops - 1e-6)
    assert item_drops.mean() >= 0.05 and item_drops.mean() >= 20 * max(background_drops.mean(), 1e-6)


def test_guided_model_keeps_outputs_and_gates_gradients(items_model, test_images):
    from kerazoo.visualize.gradients import GuidedReLU, guided_relu, value_and_gradient

    images, _ = test_images
    guided = guided_model(items_model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(guided(images)),
                               keras.ops.convert_to_numpy(items_model(images)), rtol=1e-5, atol=1e-5)
    assert guided.get_layer("c1_conv").activation is guided_relu
    assert items_model.get_layer("c1_conv").activation is keras.activations.relu  # the original is untouched
    # the guided gradient by hand: upstream passes where x > 0 and upstream > 0
    x = np.array([-1.0, 2.0, 3.0, -4.0], dtype="float32")
    upstream = np.array([5.0, -6.0, 7.0, 8.0], dtype="float32")
    _, grad = value_and_gradient(lambda t: keras.ops.sum(GuidedReLU(name="g")(t) * upstream), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(grad), [0.0, 0.0, 7.0, 0.0])
