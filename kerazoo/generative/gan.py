"""DCGAN (Radford, Metz & Chintala, Unsupervised Representation Learning with Deep Convolutional GANs, ICLR 2016),
optionally conditional (Mirza & Osindero, Conditional Generative Adversarial Nets, 2014).

The paper's architecture rules, all followed here: strided (transposed) convolutions instead of pooling; batch
normalization in both networks except the generator's output and the discriminator's input layers; no hidden
fully connected layers (only the projection of z and the discriminator's final logit); ReLU in the generator with a
tanh output, LeakyReLU (slope 0.2) in the discriminator; weights from N(0, 0.02); Adam with lr 2e-4 and beta_1 0.5.

Losses (``kerazoo.losses.generative``): "minimax" (Goodfellow et al., 2014), "non_saturating" (their practical
generator loss; the default) or "hinge". The generator maps z (and a label) to raw 0-255 pixels; the discriminator
takes raw pixels, so real and generated images enter it the same way.

    gan = create_model("dcgan", input_shape=(28, 28, 1), latent_dim=64)
    gan.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5)); gan.fit(images)   # TensorFlow backend
    images = gan.sample(64)                                                            # uint8
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerazoo.applications.registry import register_model
from kerazoo.generative.common import GenerativeFamily, PixelScale, check_latents, register_family, to_uint8
from kerazoo.losses.generative import GAN_LOSSES, discriminator_loss, generator_loss

__all__ = ["DCGAN", "GenerativeAdversarialNetwork", "dcgan_generator", "dcgan_discriminator", "latent_arithmetic",
           "GANFamily"]


def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)


def dcgan_generator(*, latent_dim: int, image_shape, filters: int = 64, num_classes: int = 0, name="generator"):
    """z (+ label) → projection to (H/4, W/4, 2f) → BN ReLU → 4x4 stride-2 deconv f → BN ReLU → 4x4 stride-2 deconv
    C → tanh → raw 0-255 pixels."""
    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"Invalid input_shape: expected height and width divisible by 4. Received: input_shape={tuple(image_shape)!r}")
    z = keras.Input((latent_dim,), name="z")
    inputs, x = [z], z
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        one_hot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot", name="label_one_hot")(label)
        x = keras.layers.Concatenate(name="z_and_label")([z, one_hot])
        inputs.append(label)
    x = keras.layers.Dense(height // 4 * width // 4 * 2 * filters, use_bias=False, kernel_initializer=_init(),
                           name="project")(x)
    x = keras.layers.Reshape((height // 4, width // 4, 2 * filters), name="project_reshape")(x)
    x = keras.layers.BatchNormalization(name="project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=_init(),
                                     name="deconv1")(x)
    x = keras.layers.BatchNormalization(name="deconv1_bn")(x)
    x = keras.layers.ReLU(name="deconv1_relu")(x)
    x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh",
                                     kernel_initializer=_init(), name="deconv2")(x)
    images = keras.layers.Rescaling(127.5, offset=127.5, name="to_pixels")(x)
    return keras.Model(inputs if num_classes else z, images, name=name)


def dcgan_discriminator(*, image_shape, filters: int = 64, num_classes: int = 0, name="discriminator"):
    """Raw pixels (+ label as an extra channel) → 4x4 stride-2 conv f → LeakyReLU → 4x4 stride-2 conv 2f → BN
    LeakyReLU → the real/fake logit."""
    images = keras.Input(tuple(image_shape), name="images")
    inputs, x = [images], PixelScale(name="scale")(images)
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        plane = keras.layers.Embedding(num_classes, image_shape[0] * image_shape[1], name="label_embedding")(label)
        plane = keras.layers.Reshape((image_shape[0], image_shape[1], 1), name="label_plane")(plane)
        x = keras.layers.Concatenate(name="image_and_label")([x, plane])
        inputs.append(label)
    x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=_init(), name="conv1")(x)
    x = keras.layers.LeakyReLU(0.2, name="conv1_lrelu")(x)
    x = keras.layers.Conv2D(2 * filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=_init(),
                            name="conv2")(x)
    x = keras.layers.BatchNormalization(name="conv2_bn")(x)
    x = keras.layers.LeakyReLU(0.2, name="conv2_lrelu")(x)
    x = keras.layers.Flatten(name="features")(x)
    logit = keras.layers.Dense(1, kernel_initializer=_init(), name="logit")(x)
    return keras.Model(inputs if num_classes else images, logit, name=name)


@keras.saving.register_keras_serializable(package="kerazoo")
class GenerativeAdversarialNetwork(keras.Model):
    """A generator and a discriminator trained against each other by ``fit`` (``train_step``: TensorFlow backend).

    ``compile(optimizer, d_optimizer=None)``: ``optimizer`` trains the generator, ``d_optimizer`` (default: a copy
    of ``optimizer``) the discriminator. Each step takes one discriminator step on a real and a generated batch, then
    one generator step on a fresh batch of z. Calling the model runs the generator.

    Args:
        image_shape: (height, width, channels); height and width divisible by 4.
        latent_dim: size of z.
        filters: the generator's last and the discriminator's first width (the others have twice as many).
        loss: "minimax", "non_saturating" or "hinge".
        num_classes: 0 (unconditional) or the number of classes to condition both networks on.
        seed: seed of the z draws during training.
    """

    def __init__(self, *, image_shape=(28, 28, 1), latent_dim: int = 64, filters: int = 64,
                 loss: str = "non_saturating", num_classes: int = 0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if loss not in GAN_LOSSES:
            raise ValueError(f"Invalid loss: expected one of {GAN_LOSSES}. Received: loss={loss!r}")
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"Invalid latent_dim: expected a positive integer. Received: latent_dim={latent_dim!r}")
        self.image_shape, self.latent_dim, self.filters = tuple(image_shape), latent_dim, filters
        self.loss_kind, self.num_classes, self.seed = loss, num_classes, seed
        self.generator = dcgan_generator(latent_dim=latent_dim, image_shape=self.image_shape, filters=filters,
                                         num_classes=num_classes)
        self.discriminator = dcgan_discriminator(image_shape=self.image_shape, filters=filters,
                                                 num_classes=num_classes)
        self.seed_generator = keras.random.SeedGenerator(seed, name="latent_seed")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_optimizer = None
        self.built = True  # both networks are built functional models

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def compile(self, optimizer="adam", d_optimizer=None, **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        self.d_optimizer = d_optimizer or self.optimizer.__class__.from_config(self.optimizer.get_config())
        # Each optimizer holds the slots of its own network only.
        self.optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self):
        if self.d_optimizer is None:
            return None
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer),
                "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer)}

    def compile_from_config(self, config):
        self.compile(optimizer=keras.optimizers.deserialize(config["optimizer"]),
                     d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]))

    def _conditioned(self, images_or_z, labels):
        return [images_or_z, labels] if self.num_classes else images_or_z

    def train_step(self, data):
        import tensorflow as tf

        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        labels = labels if self.num_classes else None
        batch = ops.shape(images)[0]
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(self._conditioned(z, labels), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(self._conditioned(images, labels), training=True)
            fake_logits = self.discriminator(self._conditioned(fake, labels), training=True)
            d_loss = ops.mean(discriminator_loss(real_logits, fake_logits, self.loss_kind))
        weights = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))

        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(
                self._conditioned(self.generator(self._conditioned(z, labels), training=True), labels), training=True)
            g_loss = ops.mean(generator_loss(fake_logits, self.loss_kind))
        weights = self.generator.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(g_loss, weights), weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def generate(self, latents, labels=None):
        """Latent vectors (n, latent_dim) (and labels (n,) for a conditional GAN) → images on the 0-255 scale."""
        latents = check_latents(latents, self.latent_dim)
        if self.num_classes:
            if labels is None:
                raise ValueError(f"This GAN is conditional on {self.num_classes} classes: pass labels.")
            labels = np.asarray(labels, dtype="int32").reshape(-1)
            if labels.shape[0] != latents.shape[0] or labels.min() < 0 or labels.max() >= self.num_classes:
                raise ValueError(f"Invalid labels: expected {latents.shape[0]} integers in [0, {self.num_classes}). "
                                 f"Received: labels={labels.tolist()!r}")
        return self.generator(self._conditioned(latents, labels), training=False)

    def sample(self, n: int, *, seed: int = 0, labels=None) -> np.ndarray:
        """``n`` images from z ~ N(0, I), uint8; a conditional GAN cycles through the classes unless given labels."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        if self.num_classes and labels is None:
            labels = np.arange(n) % self.num_classes
        return to_uint8(self.generate(z, labels))

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "latent_dim": self.latent_dim,
                "filters": self.filters, "loss": self.loss_kind, "num_classes": self.num_classes, "seed": self.seed}


@register_model(family="dcgan", paper="Radford et al., Unsupervised Representation Learning with Deep "
                "Convolutional GANs", year=2016, input_shape=(28, 28, 1), dataset="fashion_mnist", task="generative",
                min_input_size=4)
def DCGAN(*, input_shape=(28, 28, 1), latent_dim: int = 64, filters: int = 64, loss: str = "non_saturating",
          num_classes: int = 0, seed: int | None = None, name: str = "dcgan"):
    """A DCGAN (``GenerativeAdversarialNetwork``) for raw 0-255 pixel images.

    Args:
        input_shape: (height, width, channels) of the images; height and width divisible by 4.
        latent_dim: size of z.
        filters: base width of both networks.
        loss: "minimax", "non_saturating" (default) or "hinge".
        num_classes: 0 (unconditional) or the number of classes of a conditional GAN (trained on the labels).
        seed: seed of the z draws during training.
        name: the model's name.
    """
    return GenerativeAdversarialNetwork(image_shape=input_shape, latent_dim=latent_dim, filters=filters, loss=loss,
                                        num_classes=num_classes, seed=seed, name=name)


def latent_arithmetic(model, a, b, c, labels=None) -> np.ndarray:
    """DCGAN's vector arithmetic (Radford et al., 2016, figure 7): the image of mean(a) - mean(b) + mean(c), where
    a, b, c are (k, latent_dim) groups of latents sharing a concept. Returns uint8 (4, H, W, C): the three group
    means' images and the result."""
    means = [check_latents(group, model.latent_dim).mean(axis=0) for group in (a, b, c)]
    latents = np.stack(means + [means[0] - means[1] + means[2]])
    return to_uint8(model.generate(latents, None if labels is None else np.repeat(labels, 4)))


class GANFamily(GenerativeFamily):
    """DCGAN: Adam(2e-4, beta_1=0.5) for both networks; evaluated by the losses and the discriminator's accuracy on
    the test images against as many generated ones (sample quality: ``kerazoo.generative.metrics``)."""

    learning_rate = 2e-4
    adam_beta_1 = 0.5
    has_validation_loss = False

    def prepare(self, images, labels, model_kwargs):
        return (images, labels) if model_kwargs.get("num_classes") else images

    def compile(self, model, optimizer, config):
        d_optimizer = optimizer.__class__.from_config(optimizer.get_config())
        model.compile(optimizer=optimizer, d_optimizer=d_optimizer, jit_compile=config.jit_compile,
                      steps_per_execution=config.steps_per_execution)

    def evaluate(self, model, dataset, config):
        d_loss, g_loss, real_right, fake_right, count = 0.0, 0.0, 0, 0, 0
        for step, (images, labels) in enumerate(dataset):
            n = int(images.shape[0])
            labels = np.asarray(labels) if model.num_classes else None
            z = np.random.default_rng(step).standard_normal((n, model.latent_dim)).astype("float32")
            fake = model.generate(z, labels)
            real_logits = model.discriminator(model._conditioned(images, labels), training=False)
            fake_logits = model.discriminator(model._conditioned(fake, labels), training=False)
            d_loss += float(ops.sum(discriminator_loss(real_logits, fake_logits, model.loss_kind)))
            g_loss += float(ops.sum(generator_loss(fake_logits, model.loss_kind)))
            real_right += int(np.sum(ops.convert_to_numpy(real_logits) > 0))
            fake_right += int(np.sum(ops.convert_to_numpy(fake_logits) <= 0))
            count += n
        return {"examples": count, "loss": model.loss_kind, "d_loss": d_loss / count, "g_loss": g_loss / count,
                "d_accuracy_real": real_right / count, "d_accuracy_fake": fake_right / count}

    def sample(self, model, n, *, seed=0, labels=None):
        return model.sample(n, seed=seed, labels=labels)


register_family("dcgan", GANFamily())
