"""Variational autoencoder (Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014) with the importance-weighted
bound of Burda, Grosse & Salakhutdinov (Importance Weighted Autoencoders, ICLR 2016) as the likelihood estimate.

q(z|x) = N(mean(x), diag(exp(log_var(x)))) from a convolutional encoder; p(z) = N(0, I); p(x|z) from a
transposed-convolution decoder: independent Bernoulli pixels on binarized data (``likelihood="bernoulli"``) or a
discretized logistic per 8-bit pixel (``likelihood="logistic"``; Salimans et al., 2017). Training maximizes the ELBO
``E_q[log p(x|z)] - KL(q(z|x) || p(z))``, the expectation by one reparameterized sample z = mean + std * eps and the
KL in closed form. ``log_weights`` gives k samples of log p(x, z) - log q(z|x); their log-mean-exp is the IWAE
estimate of log p(x), never below the ELBO on the same samples (Jensen) and tighter as k grows.

    vae = create_model("vae", input_shape=(28, 28, 1), latent_dim=16)
    vae.compile(optimizer="adam"); vae.fit(images)           # raw 0-255 pixels, no targets
    vae.elbo(images), vae.importance_log_likelihood(images, k=64)   # nats per image
"""

from __future__ import annotations

import math
import statistics

import keras
import numpy as np
from keras import ops

from kerazoo.applications.registry import register_model
from kerazoo.generative.common import GenerativeFamily, PixelScale, check_latents, register_family, to_uint8
from kerazoo.losses.generative import bernoulli_nll, discretized_logistic_nll, gaussian_kl, quantize_pixels

__all__ = ["VAE", "VariationalAutoencoder", "latent_manifold", "VAEFamily"]

LIKELIHOODS = ("bernoulli", "logistic")
_LOG_2PI = math.log(2.0 * math.pi)


def conv_encoder(x, *, filters: int, hidden: int, name: str = "encoder"):
    """Two stride-2 3x3 convolutions (ReLU), flatten, one dense layer: the encoders' shared trunk."""
    for i, width in enumerate((filters, 2 * filters)):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"{name}_conv{i + 1}")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    return keras.layers.Dense(hidden, activation="relu", name=f"{name}_dense")(x)


def conv_decoder(z, *, image_shape, filters: int, out_channels: int, name: str = "decoder"):
    """Dense to a (H/4, W/4) map, two stride-2 transposed convolutions (ReLU), a 3x3 convolution to
    ``out_channels`` (no activation): the mirror of ``conv_encoder``."""
    height, width = image_shape[0], image_shape[1]
    if height % 4 or width % 4:
        raise ValueError(f"Invalid input_shape: expected height and width divisible by 4. Received: input_shape={tuple(image_shape)!r}")
    x = keras.layers.Dense(height // 4 * width // 4 * 2 * filters, activation="relu", name=f"{name}_dense")(z)
    x = keras.layers.Reshape((height // 4, width // 4, 2 * filters), name=f"{name}_reshape")(x)
    for i, width_ in enumerate((2 * filters, filters)):
        x = keras.layers.Conv2DTranspose(width_, 3, strides=2, padding="same", activation="relu",
                                         name=f"{name}_deconv{i + 1}")(x)
    return keras.layers.Conv2D(out_channels, 3, padding="same", name=f"{name}_out")(x)


@keras.saving.register_keras_serializable(package="kerazoo")
class VariationalAutoencoder(keras.Model):
    """A VAE whose ``fit`` maximizes the ELBO (``compute_loss``: the loss is -ELBO in nats per image).

    Args:
        image_shape: (height, width, channels); height and width divisible by 4.
        latent_dim: size of z.
        likelihood: "bernoulli" (pixels binarized at 128) or "logistic" (discretized logistic on 8-bit pixels).
        filters: width of the first convolution (the second has twice as many).
        hidden: width of the encoder's dense layer.
        seed: seed of the reparameterization noise.
    """

    def __init__(self, *, image_shape=(28, 28, 1), latent_dim: int = 16, likelihood: str = "bernoulli",
                 filters: int = 32, hidden: int = 256, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"Invalid likelihood: expected one of {LIKELIHOODS}. Received: likelihood={likelihood!r}")
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"Invalid latent_dim: expected a positive integer. Received: latent_dim={latent_dim!r}")
        self.image_shape = tuple(image_shape)
        self.latent_dim, self.likelihood, self.filters, self.hidden, self.seed = latent_dim, likelihood, filters, hidden, seed
        self.levels = 2 if likelihood == "bernoulli" else 256

        images = keras.Input(self.image_shape, name="images")
        h = conv_encoder(PixelScale(self.levels, name="scale")(images), filters=filters, hidden=hidden)
        mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
        log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
        self.encoder = keras.Model(images, [mean, log_var], name="encoder")

        channels = self.image_shape[-1]
        z = keras.Input((latent_dim,), name="z")
        params = conv_decoder(z, image_shape=self.image_shape, filters=filters,
                              out_channels=channels if likelihood == "bernoulli" else 2 * channels)
        self.decoder = keras.Model(z, params, name="decoder")

        self.seed_generator = keras.random.SeedGenerator(seed, name="reparameterization_seed")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # the encoder and decoder are built functional models

    # ---- the model's pieces -------------------------------------------------------------------------------------
    def call(self, images, training=False):
        mean, log_var = self.encoder(images, training=training)
        z = self.reparameterize(mean, log_var)
        return {"mean": mean, "log_var": log_var, "params": self.decoder(z, training=training)}

    def reparameterize(self, mean, log_var):
        """z = mean + std * eps, eps ~ N(0, I): a sample whose gradient flows to mean and log_var."""
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def reconstruction_nll(self, images, params):
        """-log p(x|z) per example, in nats, of raw 0-255 ``images`` under decoder outputs ``params``."""
        targets = quantize_pixels(images, self.levels)
        if self.likelihood == "bernoulli":
            return bernoulli_nll(targets, params)
        mean, log_scale = ops.split(params, 2, axis=-1)
        return discretized_logistic_nll(targets, ops.tanh(mean), ops.maximum(log_scale, -7.0))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        reconstruction = self.reconstruction_nll(x, y_pred["params"])
        kl = gaussian_kl(y_pred["mean"], y_pred["log_var"])
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return ops.mean(reconstruction + kl)

    # ---- likelihood figures -------------------------------------------------------------------------------------
    def elbo(self, images, samples: int = 1):
        """The ELBO per example (nats): -(reconstruction NLL averaged over ``samples`` draws of z + analytic KL)."""
        mean, log_var = self.encoder(images, training=False)
        nll = sum(self.reconstruction_nll(images, self.decoder(self.reparameterize(mean, log_var), training=False))
                  for _ in range(samples)) / samples
        return -(nll + gaussian_kl(mean, log_var))

    def log_weights(self, images, k: int):
        """(k, batch) importance log-weights log p(x|z) + log p(z) - log q(z|x), z ~ q(z|x)."""
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"Invalid k: expected a positive integer. Received: k={k!r}")
        mean, log_var = self.encoder(images, training=False)
        batch = ops.shape(mean)[0]
        eps = keras.random.normal((k, batch, self.latent_dim), seed=self.seed_generator)
        z = mean[None] + ops.exp(0.5 * log_var)[None] * eps
        params = self.decoder(ops.reshape(z, (-1, self.latent_dim)), training=False)
        repeated = ops.reshape(ops.broadcast_to(images[None], (k, *ops.shape(images))), (-1, *self.image_shape))
        log_px_z = -ops.reshape(self.reconstruction_nll(repeated, params), (k, batch))
        log_pz = -0.5 * ops.sum(ops.square(z) + _LOG_2PI, axis=-1)
        log_qz = -0.5 * ops.sum(ops.square(eps) + log_var[None] + _LOG_2PI, axis=-1)
        return log_px_z + log_pz - log_qz

    def importance_log_likelihood(self, images, k: int = 64):
        """The IWAE estimate of log p(x) per example (nats): log (1/k) sum_i p(x, z_i) / q(z_i|x)."""
        return ops.logsumexp(self.log_weights(images, k), axis=0) - math.log(k)

    # ---- images -------------------------------------------------------------------------------------------------
    def decode(self, latents):
        """Latent vectors (n, latent_dim) → mean images on the 0-255 scale (float)."""
        params = self.decoder(check_latents(latents, self.latent_dim), training=False)
        if self.likelihood == "bernoulli":
            return ops.sigmoid(params) * 255.0
        return (ops.tanh(ops.split(params, 2, axis=-1)[0]) + 1.0) * 127.5

    def encode(self, images):
        """Raw images → posterior means (n, latent_dim)."""
        return self.encoder(images, training=False)[0]

    def sample(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` images decoded from z ~ N(0, I) (the decoder's mean image), uint8."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        return to_uint8(self.decode(z))

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "latent_dim": self.latent_dim,
                "likelihood": self.likelihood, "filters": self.filters, "hidden": self.hidden, "seed": self.seed}


@register_model(family="vae", paper="Kingma & Welling, Auto-Encoding Variational Bayes", year=2014,
                input_shape=(28, 28, 1), dataset="fashion_mnist", task="generative", min_input_size=4)
def VAE(*, input_shape=(28, 28, 1), latent_dim: int = 16, likelihood: str = "bernoulli", filters: int = 32,
        hidden: int = 256, seed: int | None = None, name: str = "vae"):
    """A convolutional VAE (``VariationalAutoencoder``) taking raw 0-255 pixels.

    Args:
        input_shape: (height, width, channels); height and width divisible by 4.
        latent_dim: size of z (2 gives a drawable latent manifold).
        likelihood: "bernoulli" (binarized pixels) or "logistic" (discretized logistic on 8-bit pixels).
        filters: width of the first convolution.
        hidden: width of the encoder's dense layer.
        seed: seed of the reparameterization noise.
        name: the model's name.
    """
    return VariationalAutoencoder(image_shape=input_shape, latent_dim=latent_dim, likelihood=likelihood,
                                  filters=filters, hidden=hidden, seed=seed, name=name)


def latent_manifold(vae: VariationalAutoencoder, size: int = 15) -> np.ndarray:
    """The decoded (size*size, H, W, C) grid of a 2-D latent space, at the Gaussian quantiles of an evenly spaced
    grid (Kingma & Welling, 2014, figure 4). Needs latent_dim=2."""
    if vae.latent_dim != 2:
        raise ValueError(f"A latent manifold image needs latent_dim=2. Received: latent_dim={vae.latent_dim}")
    quantiles = [statistics.NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, size)]
    grid = np.array([[x, y] for y in quantiles[::-1] for x in quantiles], dtype="float32")
    return to_uint8(vae.decode(grid))


class VAEFamily(GenerativeFamily):
    """VAE: fit on raw pixels alone; evaluated by the ELBO and the IWAE estimate (nats per image)."""

    importance_samples = 64

    def prepare(self, images, labels, model_kwargs):
        return images

    def evaluate(self, model, dataset, config):
        elbo, iwae, count = 0.0, 0.0, 0
        for images, _ in dataset:
            elbo += float(ops.sum(model.elbo(images)))
            iwae += float(ops.sum(model.importance_log_likelihood(images, k=self.importance_samples)))
            count += int(images.shape[0])
        dims = int(np.prod(model.image_shape))
        return {"examples": count, "likelihood": model.likelihood, "elbo_nats": elbo / count,
                "iwae_nats": iwae / count, "iwae_k": self.importance_samples,
                "iwae_bits_per_dim": -iwae / count / (dims * math.log(2.0))}

    def sample(self, model, n, *, seed=0, labels=None):
        return model.sample(n, seed=seed)


register_family("vae", VAEFamily())
