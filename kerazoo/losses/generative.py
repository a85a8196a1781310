"""Losses of generative models: pixel likelihoods, the VAE's Gaussian KL and the GAN objectives.

Every function returns one value per example (summed over pixels or latent dimensions), in nats, so that the
mean over a batch is the figure papers report ("nats per image"; divide by the number of sub-pixels and ln 2 for
bits per dimension). Each has a ``keras.losses.Loss`` class for ``compile``; all are backend-agnostic.

References: Kingma & Welling, Auto-Encoding Variational Bayes, 2014 (appendix B: the KL term); van den Oord et al.,
Pixel Recurrent Neural Networks, 2016 (256-way softmax likelihood); Salimans et al., PixelCNN++, 2017 (discretized
logistic likelihood); Goodfellow et al., Generative Adversarial Nets, 2014 (minimax and non-saturating losses);
Lim & Ye, Geometric GAN, 2017 and Miyato et al., 2018 (hinge loss).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerazoo.losses.base import FunctionLoss

__all__ = [
    "GAN_LOSSES",
    "gaussian_kl",
    "bernoulli_nll",
    "categorical_pixel_nll",
    "discretized_logistic_nll",
    "quantize_pixels",
    "discriminator_loss",
    "generator_loss",
    "gaussian_kl_loss",
    "pixel_nll",
    "discriminator_label_loss",
    "generator_label_loss",
    "GaussianKL",
    "PixelNLL",
    "DiscriminatorLoss",
    "GeneratorLoss",
    "bits_per_dim",
]

GAN_LOSSES = ("minimax", "non_saturating", "hinge")


def _sum_per_example(values):
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, in closed form (Kingma & Welling, 2014, appendix B):
    ``0.5 * sum(exp(log_var) + mean**2 - 1 - log_var)``."""
    return 0.5 * _sum_per_example(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var)


def quantize_pixels(images, levels: int):
    """Raw 0-255 pixels → integer levels 0 .. levels-1 (as floats): 2 levels binarize at 128, 256 keep 8 bits."""
    _check_levels(levels)
    return ops.clip(ops.floor(ops.cast(images, "float32") * (levels / 256.0)), 0.0, levels - 1.0)


def _check_levels(levels):
    if not isinstance(levels, int) or isinstance(levels, bool) or levels < 2:
        raise ValueError(f"Invalid levels: expected an integer >= 2 (2 = binarized, 256 = 8-bit). Received: levels={levels!r}")


def bernoulli_nll(targets, logits):
    """-log p(targets) of independent Bernoulli pixels with the given logits; ``targets`` in {0, 1}."""
    return _sum_per_example(ops.binary_crossentropy(ops.cast(targets, logits.dtype), logits, from_logits=True))


def categorical_pixel_nll(levels_true, logits):
    """-log p of integer pixel levels under a per-pixel softmax over the last axis of ``logits``."""
    return _sum_per_example(ops.sparse_categorical_crossentropy(ops.cast(levels_true, "int32"), logits, from_logits=True))


def discretized_logistic_nll(levels_true, mean, log_scale, levels: int = 256):
    """-log p of integer pixel levels under a logistic distribution discretized to ``levels`` bins on [-1, 1]
    (Salimans et al., 2017, eq. 2): the first and last bins take the tails. ``mean`` and ``log_scale`` live on the
    [-1, 1] scale."""
    _check_levels(levels)
    x = ops.cast(levels_true, mean.dtype) * (2.0 / (levels - 1)) - 1.0
    half_bin = 1.0 / (levels - 1)
    inv_scale = ops.exp(-log_scale)
    upper = inv_scale * (x - mean + half_bin)
    lower = inv_scale * (x - mean - half_bin)
    log_cdf_upper = upper - ops.softplus(upper)  # log sigmoid(upper)
    log_one_minus_cdf_lower = -ops.softplus(lower)  # log (1 - sigmoid(lower))
    # log(sigmoid(upper) - sigmoid(lower)), stably: sigmoid(u) - sigmoid(l) = sigmoid(u) * (1 - sigmoid(l)) * (1 - e^(l-u)).
    log_mass = log_cdf_upper + log_one_minus_cdf_lower + ops.log(-ops.expm1(lower - upper) + 1e-12)
    log_prob = ops.where(x < -0.999, log_cdf_upper, ops.where(x > 0.999, log_one_minus_cdf_lower, log_mass))
    return -_sum_per_example(log_prob)


def _check_kind(kind):
    if kind not in GAN_LOSSES:
        raise ValueError(f"Invalid kind: expected one of {GAN_LOSSES}. Received: kind={kind!r}")


def discriminator_loss(real_logits, fake_logits, kind: str = "non_saturating"):
    """The discriminator's loss per example, from its logits on real and on generated images.

    minimax and non_saturating share it: ``-log D(x) - log(1 - D(G(z)))`` = softplus(-real) + softplus(fake).
    hinge: ``max(0, 1 - real) + max(0, 1 + fake)``.
    """
    _check_kind(kind)
    if kind == "hinge":
        return _mean_per_example(ops.relu(1.0 - real_logits)) + _mean_per_example(ops.relu(1.0 + fake_logits))
    return _mean_per_example(ops.softplus(-real_logits)) + _mean_per_example(ops.softplus(fake_logits))


def generator_loss(fake_logits, kind: str = "non_saturating"):
    """The generator's loss per example, from the discriminator's logits on generated images.

    minimax: ``log(1 - D(G(z)))`` = -softplus(fake) (Goodfellow et al.'s original game; it saturates early on).
    non_saturating: ``-log D(G(z))`` = softplus(-fake) (the paper's practical alternative). hinge: ``-fake``.
    """
    _check_kind(kind)
    if kind == "minimax":
        return -_mean_per_example(ops.softplus(fake_logits))
    if kind == "non_saturating":
        return _mean_per_example(ops.softplus(-fake_logits))
    return -_mean_per_example(fake_logits)


def _mean_per_example(values):
    return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


def gaussian_kl_loss(y_true, y_pred):
    """``gaussian_kl`` in the (y_true, y_pred) form: ``y_pred`` is ``concatenate([mean, log_var], axis=-1)``;
    ``y_true`` is ignored."""
    mean, log_var = ops.split(y_pred, 2, axis=-1)
    return gaussian_kl(mean, log_var)


def pixel_nll(y_true, y_pred, levels: int = 256):
    """Negative log-likelihood in nats per image of raw 0-255 pixels ``y_true`` quantized to ``levels``, under
    logits ``y_pred``: shape (..., C) of Bernoulli logits when ``levels`` is 2, (..., C, levels) softmax logits
    otherwise."""
    targets = quantize_pixels(y_true, levels)
    if levels == 2:
        return bernoulli_nll(targets, y_pred)
    return categorical_pixel_nll(targets, y_pred)


def discriminator_label_loss(y_true, y_pred, kind: str = "non_saturating"):
    """``discriminator_loss`` on one batch of logits ``y_pred`` labelled by ``y_true``: 1 real, 0 generated."""
    _check_kind(kind)
    real = ops.cast(ops.reshape(y_true, ops.shape(y_pred)), y_pred.dtype)
    if kind == "hinge":
        per_logit = real * ops.relu(1.0 - y_pred) + (1.0 - real) * ops.relu(1.0 + y_pred)
    else:
        per_logit = real * ops.softplus(-y_pred) + (1.0 - real) * ops.softplus(y_pred)
    return _mean_per_example(per_logit)


def generator_label_loss(y_true, y_pred, kind: str = "non_saturating"):
    """``generator_loss`` in the (y_true, y_pred) form: ``y_pred`` is the discriminator's logits on generated
    images; ``y_true`` is ignored."""
    return generator_loss(y_pred, kind)


@keras.saving.register_keras_serializable(package="kerazoo")
class GaussianKL(FunctionLoss):
    """``gaussian_kl_loss`` as a Loss (mean over the batch)."""

    fn = staticmethod(gaussian_kl_loss)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)


@keras.saving.register_keras_serializable(package="kerazoo")
class PixelNLL(FunctionLoss):
    """``pixel_nll`` as a Loss: the mean over the batch is the NLL in nats per image."""

    fn = staticmethod(pixel_nll)

    def __init__(self, levels: int = 256, **kwargs):
        _check_levels(levels)
        super().__init__(levels=levels, **kwargs)


@keras.saving.register_keras_serializable(package="kerazoo")
class DiscriminatorLoss(FunctionLoss):
    """``discriminator_label_loss`` as a Loss."""

    fn = staticmethod(discriminator_label_loss)

    def __init__(self, kind: str = "non_saturating", **kwargs):
        _check_kind(kind)
        super().__init__(kind=kind, **kwargs)


@keras.saving.register_keras_serializable(package="kerazoo")
class GeneratorLoss(FunctionLoss):
    """``generator_label_loss`` as a Loss."""

    fn = staticmethod(generator_label_loss)

    def __init__(self, kind: str = "non_saturating", **kwargs):
        _check_kind(kind)
        super().__init__(kind=kind, **kwargs)


def bits_per_dim(nats_per_image, dims: int) -> float:
    """Nats per image → bits per sub-pixel: divide by the number of dimensions and by ln 2."""
    return float(nats_per_image) / (dims * math.log(2.0))
