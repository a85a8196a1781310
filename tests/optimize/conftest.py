"""Fixtures of the compression tests."""

import pytest

from optimize_helpers import tiny_images


@pytest.fixture
def tiny_data():
    import tensorflow as tf

    images, labels = tiny_images()
    return images, labels, tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
