"""What the generative families share: pixel scaling, a compiled-function helper, sample grids and the
``GenerativeFamily`` interface through which the training task treats each family."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerazoo.losses.generative import quantize_pixels

__all__ = ["PixelScale", "GenerativeFamily", "register_family", "get_family", "compile_function", "interpolate_latents", "image_grid",
           "save_image_grid", "to_uint8", "check_latents"]


@keras.saving.register_keras_serializable(package="kerazoo")
class PixelScale(keras.layers.Layer):
    """Raw 0-255 pixels → [-1, 1], optionally quantized to ``levels`` first (2 = binarized at 128), so that a model
    sees exactly the discrete data whose likelihood it reports."""

    def __init__(self, levels: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.levels = levels

    def call(self, images):
        if self.levels is None:
            return ops.cast(images, self.compute_dtype) / 127.5 - 1.0
        return quantize_pixels(images, self.levels) * (2.0 / (self.levels - 1)) - 1.0

    def get_config(self):
        return {**super().get_config(), "levels": self.levels}


def to_uint8(images) -> np.ndarray:
    """Model images on the 0-255 scale (any float array) → uint8, rounded and clipped."""
    return np.clip(np.rint(keras.ops.convert_to_numpy(images)), 0, 255).astype("uint8")


def compile_function(fn):
    """``fn`` compiled by the backend (``tf.function`` or ``jax.jit``): one call runs a whole graph, so a loop
    written with ``keras.ops.fori_loop`` inside ``fn`` costs one Python call, not one per step and layer."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def check_latents(latents, latent_dim: int) -> np.ndarray:
    """Latent vectors as float32 (n, latent_dim); a wrong size is an error naming the run's size."""
    latents = np.asarray(latents, dtype="float32")
    if latents.ndim != 2 or latents.shape[1] != latent_dim:
        raise ValueError(
            f"Invalid latents: expected shape (n, {latent_dim}) for this model's latent_dim={latent_dim}. "
            f"Received: latents.shape={latents.shape}"
        )
    return latents


def interpolate_latents(start, end, steps: int) -> np.ndarray:
    """``steps`` latent vectors on the straight line from ``start`` to ``end`` (both included), as in the DCGAN
    paper's walks in latent space (Radford et al., 2016, figure 4)."""
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"Invalid steps: expected an integer >= 2. Received: steps={steps!r}")
    t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    return (1.0 - t) * np.asarray(start, "float32")[None] + t * np.asarray(end, "float32")[None]


def image_grid(images, cols: int | None = None, pad: int = 1) -> np.ndarray:
    """(n, H, W, C) images → one (rows*(H+pad)+pad, cols*(W+pad)+pad, C) uint8 image, row by row."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype="uint8")
    for k, image in enumerate(images):
        r, q = divmod(k, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = image
    return grid


def save_image_grid(images, path: str, cols: int | None = None) -> str:
    """Write ``image_grid(images)`` as a PNG (to a temporary name, then renamed)."""
    import os

    import matplotlib.image

    from kerazoo.io import atomic_file

    grid = image_grid(images, cols)
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path) as tmp:
        matplotlib.image.imsave(tmp, grid, format="png")
    return path


class GenerativeFamily:
    """How the generative training task treats one family (pixelcnn, vae, dcgan ...): its data, its default
    optimizer, its figures and how it samples. Subclasses override what differs."""

    learning_rate = 1e-3
    """Adam learning rate used when the config keeps the classification default optimizer (sgd)."""
    adam_beta_1 = 0.9
    can_sample = True
    has_validation_loss = True
    """Whether ``fit`` reports a validation loss (it picks the best checkpoint)."""

    def prepare(self, images, labels, model_kwargs: dict):
        """One batch of the training pipeline from raw pixels and labels (what ``fit`` sees)."""
        return images, images

    def compile(self, model, optimizer, config) -> None:
        model.compile(optimizer=optimizer, jit_compile=config.jit_compile,
                      steps_per_execution=config.steps_per_execution)

    def evaluate(self, model, dataset, config) -> dict:
        """Figures on a ``tf.data`` of (raw pixels, labels)."""
        raise NotImplementedError

    def sample(self, model, n: int, *, seed: int = 0, labels=None) -> np.ndarray:
        """``n`` new images, uint8 (n, H, W, C)."""
        raise NotImplementedError


_FAMILIES: dict[str, GenerativeFamily] = {}


def register_family(name: str, family: GenerativeFamily) -> GenerativeFamily:
    _FAMILIES[name] = family
    return family


def get_family(name: str) -> GenerativeFamily:
    if name not in _FAMILIES:
        raise ValueError(f"No generative family {name!r}. Known: {', '.join(sorted(_FAMILIES))}.")
    return _FAMILIES[name]
