"""Translated and cluttered Fashion-MNIST (kerazoo.datasets.translated): each object is where its offset says,
clutter never hides it, and every split is the same each time it is made."""

import numpy as np
import pytest

from kerazoo import datasets
from kerazoo.datasets import translated


@pytest.fixture()
def objects(idx_data_dir):
    return {split: datasets.load_arrays("fashion_mnist", split, data_dir=idx_data_dir) for split in ("train", "test")}


@pytest.mark.parametrize("split", ["train", "test"])
def test_translated_places_the_object_where_it_says(idx_data_dir, objects, split):
    images, labels, offsets = translated.translated("fashion_mnist_translated60", split, idx_data_dir)
    originals, original_labels = objects[split]
    assert images.shape == (len(originals), 60, 60, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, original_labels)
    assert offsets.min() >= 0 and offsets.max() <= 60 - 28
    assert len({tuple(o) for o in offsets}) > len(offsets) // 2  # positions vary
    for image, original, (top, left) in zip(images, originals, offsets):
        np.testing.assert_array_equal(image[top:top + 28, left:left + 28], original)
        rest = image.copy()
        rest[top:top + 28, left:left + 28] = 0
        assert not rest.any()  # black canvas everywhere else


def test_clutter_adds_pieces_but_keeps_the_object(idx_data_dir, objects):
    clean, _, clean_offsets = translated.translated("fashion_mnist_translated60", "train", idx_data_dir)
    images, labels, offsets = translated.translated("fashion_mnist_cluttered60", "train", idx_data_dir)
    originals, original_labels = objects["train"]
    np.testing.assert_array_equal(labels, original_labels)
    outside = 0
    for image, original, (top, left) in zip(images, originals, offsets):
        assert np.all(image[top:top + 28, left:left + 28] >= original)  # max compositing: never darkened
        rest = image.astype(int)
        rest[top:top + 28, left:left + 28] = 0
        outside += int((rest > 0).sum())
    assert outside > 0 and not np.array_equal(images, clean)
    # at most CLUTTER_PIECES 8x8 pieces outside the object per canvas
    assert outside <= len(images) * translated.CLUTTER_PIECES * translated.CLUTTER_SIZE ** 2


def test_splits_are_deterministic_and_independent(idx_data_dir):
    first = translated.translated("fashion_mnist_cluttered60", "test", idx_data_dir)
    translated.translated.cache_clear()
    again = translated.translated("fashion_mnist_cluttered60", "test", idx_data_dir)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    train = translated.translated("fashion_mnist_cluttered60", "train", idx_data_dir)[2]
    assert not np.array_equal(train[:len(first[2])], first[2])  # each split has its own seed


def test_loadable_by_name(idx_data_dir):
    ds = datasets.load("fashion_mnist_translated60", "test[:10]", data_dir=idx_data_dir, batch_size=4)
    images, labels = next(iter(ds))
    assert tuple(images.shape) == (4, 60, 60, 1) and images.dtype.name == "float32"
    expected = translated.translated("fashion_mnist_translated60", "test", idx_data_dir)[0][:4]
    np.testing.assert_array_equal(images.numpy(), expected.astype("float32"))
    info = datasets.info("fashion_mnist_cluttered60", data_dir=idx_data_dir)
    assert info.image_shape == (60, 60, 1) and info.num_classes == 10 and info.class_names[0] == "t-shirt/top"
    canvases = translated.translated("fashion_mnist_cluttered60", "train", idx_data_dir)[0] / 255.0
    np.testing.assert_allclose(info.mean, [canvases.mean()], rtol=1e-9)
    np.testing.assert_allclose(info.std, [canvases.std()], rtol=1e-9)


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="Invalid split: expected one of train, test. Received: split='val'"):
        translated.translated("fashion_mnist_translated60", "val")
