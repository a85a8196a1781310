"""The glimpse sensor extracts the right patches at known locations, coarser ones averaged, zeros outside."""

import keras
import numpy as np
import pytest

from kerazoo.layers.glimpse import GlimpseSensor


def numbered_images():
    """Two 16x16 images whose pixels hold distinct numbers (channel 1 = channel 0 negated)."""
    values = np.arange(2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16, 1)
    return np.concatenate([values, -values], axis=-1)


def reference(image, top, left, extent, size):
    """The patch by hand: zero-padded crop at (top, left), then block means down to size x size."""
    padded = np.zeros((image.shape[0] + 64, image.shape[1] + 64, image.shape[2]), np.float32)
    padded[32:-32, 32:-32] = image
    crop = padded[32 + top : 32 + top + extent, 32 + left : 32 + left + extent]
    block = extent // size
    return crop.reshape(size, block, size, block, -1).mean(axis=(1, 3))


@pytest.mark.parametrize("locations, corners", [
    # (row, col) in [-1, 1] → the sharpest 4x4 patch's top-left pixel: the centre of a 16-pixel side is pixel edge 8
    ([[0.0, 0.0], [0.0, 0.0]], [(6, 6), (6, 6)]),
    ([[-0.5, 0.25], [0.75, -1.0]], [(2, 8), (12, -2)]),
    ([[-1.0, -1.0], [1.0, 1.0]], [(-2, -2), (14, 14)]),  # at the corners: half the patch is outside (zeros)
])
def test_patches_at_known_locations(locations, corners):
    images = numbered_images()
    sensor = GlimpseSensor(size=4, scales=3, scale_factor=2)
    glimpses = np.asarray(sensor([images, np.array(locations, np.float32)]))
    assert glimpses.shape == (2, 4, 4, 2 * 3)
    for b, (top, left) in enumerate(corners):
        for scale in range(3):
            extent = 4 * 2 ** scale
            grow = (extent - 4) // 2  # concentric: each patch extends the sharper one equally on every side
            expected = reference(images[b], top - grow, left - grow, extent, 4)
            np.testing.assert_allclose(glimpses[b, :, :, 2 * scale : 2 * scale + 2], expected, rtol=1e-6,
                                       err_msg=f"image {b} scale {scale}")
    centre = np.asarray(sensor([images, np.zeros((2, 2), np.float32)]))[0, :, :, 0]
    np.testing.assert_array_equal(centre, images[0, 6:10, 6:10, 0])  # the sharpest patch is the raw pixels


def test_works_inside_a_model_and_round_trips_its_config():
    images = keras.Input((16, 16, 2), name="images")
    locations = keras.Input((2,), name="locations")
    model = keras.Model([images, locations], GlimpseSensor(size=4, scales=2, name="glimpse")([images, locations]))
    assert model.output_shape == (None, 4, 4, 4)
    clone = GlimpseSensor.from_config(model.get_layer("glimpse").get_config())
    assert (clone.size, clone.scales, clone.scale_factor) == (4, 2, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 0}, "Received: size=0"), ({"scales": 1.5}, "Received: scales=1.5"),
    ({"scale_factor": 1}, "Received: scale_factor=1"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GlimpseSensor(**kwargs)
