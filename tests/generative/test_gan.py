"""DCGAN: the paper's architecture rules, shapes and ranges, conditional inputs, save/reload, a seeded short run."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model
from kerazoo.generative import latent_arithmetic


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _gan(**kwargs):
    return create_model("dcgan", input_shape=(8, 8, 1), latent_dim=4, filters=4, seed=0, **kwargs)


def test_architecture_follows_the_dcgan_rules():
    gan = _gan()
    layers = gan.generator.layers + gan.discriminator.layers
    assert not [l.name for l in layers if "Pooling" in type(l).__name__]  # strided convolutions only
    dense = [l for l in layers if isinstance(l, keras.layers.Dense)]
    assert [l.name for l in dense] == ["project", "logit"]  # no hidden fully connected layers
    assert gan.generator.get_layer("deconv2").activation.__name__ == "tanh"
    # Batch norm everywhere except the generator's output and the discriminator's input layers.
    assert [l.name for l in layers if isinstance(l, keras.layers.BatchNormalization)] == [
        "project_bn", "deconv1_bn", "conv2_bn"]
    assert [l.negative_slope for l in gan.discriminator.layers if isinstance(l, keras.layers.LeakyReLU)] == [0.2, 0.2]


def test_shapes_ranges_and_latent_checks():
    gan = _gan()
    images = gan.sample(6, seed=3)
    assert images.shape == (6, 8, 8, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, gan.sample(6, seed=3))
    raw = _np(gan.generate(np.random.default_rng(0).standard_normal((3, 4))))
    assert 0 <= raw.min() and raw.max() <= 255
    assert _np(gan.discriminator(raw)).shape == (3, 1)
    assert latent_arithmetic(gan, *np.random.default_rng(1).standard_normal((3, 2, 4))).shape == (4, 8, 8, 1)
    with pytest.raises(ValueError, match=r"latent_dim=4.*Received: latents.shape=\(2, 5\)"):
        gan.generate(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="Received: loss='wasserstein'"):
        _gan(loss="wasserstein")


def test_conditional_gan_takes_labels(tmp_path):
    gan = _gan(num_classes=3)
    assert gan.sample(4).shape == (4, 8, 8, 1)  # labels cycle through the classes
    z = np.zeros((2, 4), "float32")
    assert not np.allclose(_np(gan.generate(z, [0, 2]))[0], _np(gan.generate(z, [0, 2]))[1])  # the label matters
    with pytest.raises(ValueError, match="pass labels"):
        gan.generate(z)
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        gan.generate(z, [0, 3])
    path = str(tmp_path / "cgan.keras")
    gan.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(again.generate(z, [1, 2])), _np(gan.generate(z, [1, 2])), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["non_saturating", "hinge"])
def test_seeded_short_run_trains_the_discriminator(loss):
    """16 alternating steps on bar images: the discriminator's loss falls by at least 10% from its first
    epoch (it learns to tell bars from the generator's noise faster than the generator catches up)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 40, (64, 8, 8, 1)).astype("float32")
    images[:, 3:5, 1:7] = 250
    gan = _gan(loss=loss)
    gan.compile(optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5), run_eagerly=True)
    history = gan.fit(images, batch_size=16, epochs=4, verbose=0).history
    assert set(history) == {"d_loss", "g_loss"}
    assert history["d_loss"][-1] < 0.9 * history["d_loss"][0]
