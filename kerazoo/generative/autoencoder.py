"""A convolutional autoencoder: unsupervised features judged by a linear (and k-nearest-neighbour) probe.

Encoder (two stride-2 convolutions and a dense layer, shared with the VAE) → a ``code`` layer → the mirrored
decoder → sigmoid pixels in [0, 1], trained to reconstruct its input (binary cross-entropy on the [0, 1] pixels,
Hinton & Salakhutdinov, Reducing the Dimensionality of Data with Neural Networks, Science 2006). Its codes are
the features: ``probe_accuracy`` fits a logistic regression (and a kNN classifier) on training codes and reports
test accuracy, the usual measure of what an unsupervised representation has learned.

    ae = create_model("autoencoder", input_shape=(28, 28, 1), code_size=32)
    ae.compile(optimizer="adam", loss="binary_crossentropy"); ae.fit(images, images / 255)
    codes = encoder_of(ae).predict(images)
"""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.applications.registry import register_model
from kerazoo.generative.common import GenerativeFamily, PixelScale, register_family, to_uint8
from kerazoo.generative.vae import conv_decoder, conv_encoder

__all__ = ["Autoencoder", "encoder_of", "probe_accuracy", "AutoencoderFamily"]


@register_model(family="autoencoder", paper="Hinton & Salakhutdinov, Reducing the Dimensionality of Data with "
                "Neural Networks", year=2006, input_shape=(28, 28, 1), dataset="fashion_mnist", task="generative",
                min_input_size=4)
def Autoencoder(*, input_shape=(28, 28, 1), code_size: int = 32, filters: int = 32, hidden: int = 256,
                name: str = "autoencoder"):
    """A convolutional autoencoder: raw 0-255 pixels → reconstruction in [0, 1]; the ``code`` layer holds the
    features.

    Args:
        input_shape: (height, width, channels); height and width divisible by 4.
        code_size: width of the code (the bottleneck).
        filters: width of the first convolution (the second has twice as many).
        hidden: width of the encoder's dense layer.
        name: the model's name.
    """
    if not isinstance(code_size, int) or code_size < 1:
        raise ValueError(f"Invalid code_size: expected a positive integer. Received: code_size={code_size!r}")
    images = keras.Input(tuple(input_shape), name="images")
    h = conv_encoder(PixelScale(name="scale")(images), filters=filters, hidden=hidden)
    code = keras.layers.Dense(code_size, name="code")(h)
    logits = conv_decoder(code, image_shape=input_shape, filters=filters, out_channels=input_shape[-1])
    reconstruction = keras.layers.Activation("sigmoid", name="reconstruction")(logits)
    return keras.Model(images, reconstruction, name=name)


def encoder_of(autoencoder: keras.Model) -> keras.Model:
    """The autoencoder's images → code part, as a model of its own."""
    return keras.Model(autoencoder.inputs, autoencoder.get_layer("code").output, name="encoder")


def probe_accuracy(encoder: keras.Model, train, test, *, neighbours: int = 5) -> dict:
    """Test accuracy of a logistic regression and of a kNN classifier fitted on the codes of ``train``.

    Args:
        encoder: images → features.
        train, test: (images, labels) array pairs.
        neighbours: k of the kNN probe.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_codes = encoder.predict(train[0], batch_size=256, verbose=0)
    test_codes = encoder.predict(test[0], batch_size=256, verbose=0)
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train_codes, train[1])
    knn = KNeighborsClassifier(neighbours).fit(train_codes, train[1])
    return {"linear_probe_accuracy": float(linear.score(test_codes, test[1])),
            "knn_accuracy": float(knn.score(test_codes, test[1])), "probe_train_examples": len(train[1])}


class AutoencoderFamily(GenerativeFamily):
    """Autoencoder: fit(images, images / 255); evaluated by reconstruction error and the probes of its codes."""

    probe_train_examples = 10000
    can_sample = False

    def prepare(self, images, labels, model_kwargs):
        return images, images / 255.0

    def compile(self, model, optimizer, config):
        model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.MeanSquaredError(name="mse")], jit_compile=config.jit_compile,
                      steps_per_execution=config.steps_per_execution)

    def evaluate(self, model, dataset, config):
        from kerazoo import datasets

        images, labels = (np.concatenate(part) for part in zip(*((np.asarray(x), np.asarray(y)) for x, y in dataset)))
        reconstruction = model.predict(images, batch_size=256, verbose=0)
        mse = float(np.mean((reconstruction - images / 255.0) ** 2))
        train = datasets.load_arrays(config.data.dataset, config.data.train_split, data_dir=config.data.data_dir)
        keep = min(self.probe_train_examples, config.data.limit or self.probe_train_examples)
        train = tuple(part[:keep] for part in train)
        probes = probe_accuracy(encoder_of(model), (train[0].astype("float32"), train[1]), (images, labels))
        return {"examples": len(labels), "reconstruction_mse": mse, **probes}

    def sample(self, model, n, *, seed=0, labels=None):
        raise ValueError("An autoencoder has no prior to sample from; it only reconstructs. Use `reconstruct` (or a "
                         "vae for new images).")

    def reconstruct(self, model, images) -> np.ndarray:
        return to_uint8(model.predict(images, verbose=0) * 255.0)


register_family("autoencoder", AutoencoderFamily())
