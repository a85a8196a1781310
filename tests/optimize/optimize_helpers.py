"""Tiny models and data for the compression tests (raw 0-255 pixels → logits, like every zoo run)."""

import keras
import numpy as np


def tiny_cnn(name="tiny_cnn", side=12, channels=1, classes=4):
    """Rescaling → two convs (the second with 8 input channels, so 2:4 sparsity applies) → Dense → logits."""
    inputs = keras.Input(shape=(side, side, channels), name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="normalize")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc")(x)
    outputs = keras.layers.Dense(classes, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def tiny_images(count=64, side=12, channels=1, classes=4, seed=0):
    """Images whose class is the row band holding a bright bar (learnable in a few steps), and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=count).astype(np.int32)
    images = rng.uniform(0, 40, size=(count, side, side, channels)).astype(np.float32)
    band = side // classes
    for i, label in enumerate(labels):
        images[i, label * band : label * band + 2, 1:-1] = 250.0
    return images, labels
