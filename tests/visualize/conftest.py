"""A small Fashion-MNIST-like run for the visualization tests: four kinds of bright "items" (trousers, a bag, a shirt,
a sneaker, drawn as simple shapes) at random offsets on a black background, as in Fashion-MNIST, so "the item's
pixels" are exactly the non-zero ones. LeNet-5 with ReLU learns them in a few seconds. The CLI tests use the shared
``trained_run`` fixture (tests/conftest.py) instead, since they need a run directory."""

import numpy as np
import pytest

CLASSES = {1: "trouser", 8: "bag", 6: "shirt", 7: "sneaker"}  # Fashion-MNIST's label numbers


def draw_item(label: int, rng) -> np.ndarray:
    """A 28x28 uint8 image: the item's shape, bright and textured, shifted by up to 3 pixels; background 0."""
    image = np.zeros((28, 28), dtype=np.float32)
    if label == 1:  # trouser: two legs and a waistband
        image[6:24, 9:13] = 1
        image[6:24, 15:19] = 1
        image[6:9, 9:19] = 1
    elif label == 8:  # bag: a square with a handle
        image[11:23, 8:20] = 1
        image[7:11, 11:13] = 1
        image[7:11, 15:17] = 1
        image[7:9, 11:17] = 1
    elif label == 6:  # shirt: body and sleeves
        image[8:22, 10:18] = 1
        image[8:12, 5:23] = 1
    else:  # sneaker: a low wide shape with a sole
        image[15:21, 5:23] = 1
        image[12:15, 5:13] = 1
    dy, dx = rng.integers(-3, 4, size=2)
    image = np.roll(image, (dy, dx), axis=(0, 1))
    texture = rng.uniform(150, 255, size=image.shape)
    return (image * texture).astype(np.uint8)


def make_items(count: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.choice(list(CLASSES), size=count).astype(np.uint8)
    return np.stack([draw_item(int(label), rng) for label in labels]), labels


@pytest.fixture(scope="session")
def items_data():
    """(train images, train labels, test images, test labels): 320 and 64 items, float32 (N, 28, 28, 1), int32."""
    train_x, train_y = make_items(320, 0)
    test_x, test_y = make_items(64, 1)
    return (train_x[..., None].astype("float32"), train_y.astype("int32"),
            test_x[..., None].astype("float32"), test_y.astype("int32"))


@pytest.fixture(scope="session")
def items_model(items_data):
    """LeNet-5 with ReLU, built as a run's model is (raw pixels → normalize → zoo model → logits; see
    kerazoo.training.tasks.Task.build) and fitted for 8 epochs (100 % test accuracy in our runs)."""
    import keras

    from kerazoo.applications import create_model

    keras.utils.set_random_seed(0)
    train_x, train_y, test_x, test_y = items_data
    images = keras.Input((28, 28, 1), name="images")
    normalized = keras.layers.Rescaling(1 / 255.0, name="normalize")(images)
    model = create_model("lenet5", input_tensor=normalized, classes=10, classifier_activation=None, activation="relu")
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_x, train_y, batch_size=32, epochs=8, verbose=0)
    accuracy = model.evaluate(test_x, test_y, verbose=0)[1]
    assert accuracy >= 0.95, f"the items model did not learn (test accuracy {accuracy:.2f})"
    return model
