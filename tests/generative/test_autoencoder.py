"""Convolutional autoencoder: shapes and ranges, its codes, the probes, a seeded short run."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model
from kerazoo.generative import encoder_of, probe_accuracy


def _bars(n, seed=0):
    """Images whose class (0-3) is the row of a bright bar."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 40, (n, 8, 8, 1)).astype("float32")
    for k, label in enumerate(labels):
        images[k, 2 * label: 2 * label + 2, 1:7] = 250
    return images, labels


def test_shapes_ranges_and_codes():
    ae = create_model("autoencoder", input_shape=(8, 8, 1), filters=4, hidden=16, code_size=5)
    images, _ = _bars(3)
    out = keras.ops.convert_to_numpy(ae(images))
    assert out.shape == (3, 8, 8, 1) and 0 <= out.min() and out.max() <= 1
    assert encoder_of(ae).output_shape == (None, 5)


@pytest.mark.slow
def test_short_run_lowers_the_loss_and_codes_feed_the_probes():
    """24 Adam steps lower the reconstruction loss by at least 10%; the probes on the codes of a trained
    autoencoder then beat chance (25%) on held-out bar images."""
    keras.utils.set_random_seed(0)
    ae = create_model("autoencoder", input_shape=(8, 8, 1), filters=4, hidden=16, code_size=8)
    ae.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", run_eagerly=True)
    images, labels = _bars(96)
    start = float(ae.evaluate(images, images / 255, verbose=0))
    ae.fit(images, images / 255, batch_size=8, epochs=2, verbose=0)
    assert float(ae.evaluate(images, images / 255, verbose=0)) < 0.9 * start
    test = _bars(48, seed=1)
    probes = probe_accuracy(encoder_of(ae), (images, labels), test, neighbours=3)
    assert probes["linear_probe_accuracy"] > 0.5 and probes["knn_accuracy"] > 0.5
    assert probes["probe_train_examples"] == 96
