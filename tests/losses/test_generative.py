"""Generative losses against hand computations: Gaussian KL, pixel likelihoods, GAN losses."""

import math

import keras
import numpy as np
import pytest

from kerazoo import losses
from kerazoo.losses import generative as g


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_gaussian_kl_matches_the_closed_form_and_a_monte_carlo_estimate():
    mean = np.array([[0.5, -1.0], [0.0, 0.0]], "float32")
    log_var = np.array([[math.log(0.25), math.log(4.0)], [0.0, 0.0]], "float32")
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2 - 1) / 2 per dimension.
    by_hand = [math.log(2) + (0.25 + 0.25 - 1) / 2 + -math.log(2) + (4 + 1 - 1) / 2, 0.0]
    np.testing.assert_allclose(_np(g.gaussian_kl(mean, log_var)), by_hand, rtol=1e-6, atol=1e-7)
    # Monte Carlo: E_q[log q(z) - log p(z)] for the first example.
    rng = np.random.default_rng(0)
    std = np.exp(0.5 * log_var[0])
    z = mean[0] + std * rng.standard_normal((200_000, 2))
    log_q = -0.5 * (((z - mean[0]) / std) ** 2 + np.log(2 * np.pi * std**2))
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    assert abs((log_q - log_p).sum(axis=1).mean() - by_hand[0]) < 0.02
    loss = losses.GaussianKL()
    assert float(loss(np.zeros(2), np.concatenate([mean, log_var], axis=-1))) == pytest.approx(np.mean(by_hand), rel=1e-6)


def test_pixel_nll_binarized_and_8bit_by_hand():
    raw = np.array([[[[0.0], [200.0]]]], "float32")  # one image, 1x2 pixels: levels 0 and 1 when binarized
    logits = np.array([[[[0.0], [2.0]]]], "float32")
    expected = math.log(2) + math.log(1 + math.exp(-2.0))  # -log(1/2) - log(sigmoid(2))
    assert float(_np(g.pixel_nll(raw, logits, levels=2))[0]) == pytest.approx(expected, rel=1e-6)
    logits256 = np.zeros((1, 1, 2, 1, 256), "float32")
    logits256[0, 0, 1, 0, 200] = 3.0  # pixel 2 has value 200
    p200 = math.exp(3.0) / (255 + math.exp(3.0))
    expected256 = math.log(256) - math.log(p200)
    assert float(_np(g.pixel_nll(raw, logits256, levels=256))[0]) == pytest.approx(expected256, rel=1e-5)
    assert float(losses.get("pixel_nll", levels=2)(raw, logits)) == pytest.approx(expected, rel=1e-6)
    assert g.bits_per_dim(expected256, 2) == pytest.approx(expected256 / (2 * math.log(2)))


def test_discretized_logistic_sums_to_one_and_matches_the_cdf():
    levels = np.arange(256, dtype="float32").reshape(256, 1)  # every level as a one-pixel "image"
    mean = np.full((256, 1), 0.1, "float32")
    log_scale = np.full((256, 1), math.log(0.2), "float32")
    nll = _np(g.discretized_logistic_nll(levels, mean, log_scale))
    assert np.exp(-nll).sum() == pytest.approx(1.0, abs=1e-4)

    def cdf(x):
        return 1 / (1 + np.exp(-(x - 0.1) / 0.2))

    x = 100 * 2 / 255 - 1
    assert math.exp(-nll[100]) == pytest.approx(cdf(x + 1 / 255) - cdf(x - 1 / 255), rel=1e-3)
    assert math.exp(-nll[0]) == pytest.approx(cdf(-1 + 1 / 255), rel=1e-4)


def test_gan_losses_match_hand_computations():
    real = np.array([[2.0], [-1.0]], "float32")
    fake = np.array([[0.5], [-3.0]], "float32")

    def softplus(x):
        return np.log1p(np.exp(x))

    d = softplus(-real[:, 0]) + softplus(fake[:, 0])  # -log D(x) - log(1 - D(G(z)))
    for kind in ("minimax", "non_saturating"):
        np.testing.assert_allclose(_np(g.discriminator_loss(real, fake, kind)), d, rtol=1e-6)
    np.testing.assert_allclose(_np(g.discriminator_loss(real, fake, "hinge")),
                               np.maximum(0, 1 - real[:, 0]) + np.maximum(0, 1 + fake[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(_np(g.generator_loss(fake, "minimax")), np.log(1 - 1 / (1 + np.exp(-fake[:, 0]))),
                               rtol=1e-5)
    np.testing.assert_allclose(_np(g.generator_loss(fake, "non_saturating")), -np.log(1 / (1 + np.exp(-fake[:, 0]))),
                               rtol=1e-5)
    np.testing.assert_allclose(_np(g.generator_loss(fake, "hinge")), -fake[:, 0])
    # The Loss classes: labelled logits (1 real, 0 fake) give the same per-logit terms, averaged over the batch.
    logits = np.concatenate([real, fake])
    labels = np.array([1, 1, 0, 0], "float32")
    assert float(losses.DiscriminatorLoss()(labels, logits)) == pytest.approx(d.sum() / 4, rel=1e-6)
    assert float(losses.GeneratorLoss(kind="hinge")(np.zeros(2), fake)) == pytest.approx(-fake.mean(), rel=1e-6)


def test_losses_reload_with_their_options_and_reject_bad_ones():
    loss = losses.DiscriminatorLoss(kind="hinge")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert again.options == {"kind": "hinge"}
    with pytest.raises(ValueError, match="Received: kind='wasserstein'"):
        g.generator_loss(np.zeros((1, 1)), "wasserstein")
    with pytest.raises(ValueError, match="Received: levels=1"):
        losses.PixelNLL(levels=1)
