"""The "generative" training task: how ``kerazoo train`` trains, evaluates and samples PixelCNN, PixelRNN, the
autoencoder, the VAE and DCGAN, and the run-directory API behind ``kerazoo generate``.

What differs from classification (``kerazoo.training.tasks.Task``):
- data: no augmentation; what ``fit`` sees depends on the family (images alone for the VAE and an unconditional
  GAN; (images, images) for PixelCNN/PixelRNN, whose loss reads the targets; (images, images / 255) for the
  autoencoder; (images, labels) for a conditional GAN).
- the optimizer: the config's default ``sgd`` (meant for classifiers) becomes Adam at the family's paper learning
  rate (1e-3; DCGAN: 2e-4 with beta_1 = 0.5); an explicitly chosen adam/adamw/rmsprop is used as configured.
- figures: NLL (nats/image, bits/dim), ELBO and IWAE estimate, probe accuracy or GAN losses (``evaluate``).
- checkpoints keep the lowest validation loss (DCGAN has none: its last checkpoint is the one used).
- ``callbacks``: a sample grid per epoch in TensorBoard (``SampleGrid``).
"""

from __future__ import annotations

import os

import keras
import numpy as np

from kerazoo import datasets
from kerazoo.generative.common import get_family, save_image_grid
from kerazoo.training.strategy import is_chief
from kerazoo.training.tasks import Task, register_task

__all__ = ["GenerativeTask", "SampleGrid", "load_generative_run", "generate"]


def _family_of(model_name: str):
    from kerazoo.applications import get_entry

    return get_family(get_entry(model_name).family)


class GenerativeTask(Task):
    name = "generative"
    predicts_classes = False
    monitor = "val_loss"
    mode = "min"

    def pipelines(self, config, replicas: int):
        data = config.data
        if data.batch_size % replicas:
            raise ValueError(
                f"Config field 'data.batch_size' ({data.batch_size}) must be divisible by the {replicas} replicas."
            )
        family, kwargs = _family_of(config.model.name), config.model.kwargs

        def prepared(ds):
            return ds.map(lambda images, labels: family.prepare(images, labels, kwargs))

        train = datasets.load(data.dataset, data.train_split, data_dir=data.data_dir, batch_size=data.batch_size,
                              seed=config.seed, limit=data.limit)
        val = None
        if data.val_split and family.has_validation_loss:
            val = prepared(datasets.load(data.dataset, data.val_split, data_dir=data.data_dir,
                                         batch_size=data.batch_size))
        return prepared(train), val

    def build(self, config, info: datasets.DatasetInfo) -> keras.Model:
        from kerazoo.applications import create_model

        return create_model(config.model.name, input_shape=info.image_shape, **config.model.kwargs)

    def compile(self, trainer: keras.Model, config, optimizer) -> None:
        family = _family_of(config.model.name)
        if config.optimizer.name == "sgd":
            optimizer = keras.optimizers.Adam(family.learning_rate, beta_1=family.adam_beta_1)
        family.compile(trainer, optimizer, config)

    def evaluate(self, model: keras.Model, config, *, split: str | None = None, limit: int | None = None) -> dict:
        split = split or config.data.test_split
        ds = datasets.load(config.data.dataset, split, data_dir=config.data.data_dir,
                           batch_size=config.data.batch_size, limit=limit)
        return {"split": split, **_family_of(config.model.name).evaluate(model, ds, config)}

    def sample(self, model: keras.Model, config, n: int, *, seed: int = 0, labels=None) -> np.ndarray:
        return _family_of(config.model.name).sample(model, n, seed=seed, labels=labels)

    def callbacks(self, model: keras.Model, config, run_dir: str) -> list:
        """A grid of samples in TensorBoard after every epoch (none for the autoencoder, which cannot sample)."""
        family = _family_of(config.model.name)
        if not family.can_sample or not is_chief():
            return []
        return [SampleGrid(os.path.join(run_dir, "tb", "samples"), lambda: family.sample(model, 16, seed=0))]


class SampleGrid(keras.callbacks.Callback):
    """Writes ``sampler()``'s images (uint8, (n, H, W, C)) as one grid image to TensorBoard after every
    ``every`` epochs (tag ``samples``), with the same seed each time, so the grids show training progress."""

    def __init__(self, log_dir: str, sampler, every: int = 1):
        super().__init__()
        self.log_dir, self.sampler, self.every = log_dir, sampler, every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        import tensorflow as tf

        from kerazoo.generative.common import image_grid

        grid = image_grid(self.sampler())
        writer = tf.summary.create_file_writer(self.log_dir)
        with writer.as_default():
            tf.summary.image("samples", grid[None], step=epoch + 1)
        writer.close()


def load_generative_run(run_dir: str, which: str = "best"):
    """A generative run's (model, config); a run of any other task is a ValueError saying so."""
    from kerazoo.applications import get_entry, list_models
    from kerazoo.training.run import load_run_config
    from kerazoo.runs import RunDir

    config = load_run_config(run_dir)
    task = get_entry(config.model.name).task
    if task != "generative":
        raise ValueError(
            f"{run_dir} is a {task} run (model {config.model.name!r}), not a generative one. Sampling needs a run of "
            f"one of: {', '.join(list_models(task='generative'))}."
        )
    return RunDir(run_dir).load_model(which), config


MODES = ("samples", "interpolate", "manifold", "arithmetic", "reconstruct")


def generate(run_dir: str, *, n: int = 64, seed: int = 0, mode: str = "samples", latents=None, labels=None,
             out: str | None = None) -> np.ndarray:
    """Images from a generative run, as uint8 (n, H, W, C); with ``out``, also a PNG grid.

    Args:
        run_dir: a run directory written by ``kerazoo train`` for a generative model.
        n: number of images (``interpolate``: rounded down to rows of 8; ``manifold``: the nearest square).
        seed: seed of the latents or pixels drawn.
        mode: "samples" (new images; with ``latents``, their decodings), "interpolate" (rows of straight-line walks
            between random latents; VAE and DCGAN), "manifold" (the 2-D latent grid of a VAE with latent_dim=2),
            "arithmetic" (DCGAN vector arithmetic on random groups of 3 latents, one row of 4 per trial),
            "reconstruct" (test images and their reconstructions, VAE and autoencoder).
        latents: optional (n, latent_dim) array to decode (VAE, DCGAN); its size must match the run's model.
        labels: class labels for a conditional GAN.
        out: optional PNG path.
    """
    if mode not in MODES:
        raise ValueError(f"Invalid mode: expected one of {MODES}. Received: mode={mode!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"Invalid n: expected a positive integer. Received: n={n!r}")
    model, config = load_generative_run(run_dir)
    family = _family_of(config.model.name)
    has_latents = hasattr(model, "latent_dim")
    if (latents is not None or mode in ("interpolate", "arithmetic")) and not has_latents:
        raise ValueError(f"Mode {mode!r} with latents needs a latent-variable model (vae, dcgan); "
                         f"{config.model.name!r} has none.")
    rng = np.random.default_rng(seed)
    decode = getattr(model, "decode", None) or getattr(model, "generate", None)
    cols = None
    if latents is not None:
        from kerazoo.generative.common import check_latents, to_uint8

        latents = check_latents(latents, model.latent_dim)
        images = to_uint8(model.decode(latents) if hasattr(model, "decode") else model.generate(latents, labels))
    elif mode == "samples":
        images = family.sample(model, n, seed=seed, labels=labels)
    elif mode == "interpolate":
        from kerazoo.generative.common import interpolate_latents, to_uint8

        rows, cols = max(1, n // 8), 8
        walks = [interpolate_latents(*rng.standard_normal((2, model.latent_dim)), cols) for _ in range(rows)]
        images = to_uint8(decode(np.concatenate(walks)))
    elif mode == "manifold":
        from kerazoo.generative.vae import latent_manifold

        if not hasattr(model, "decode"):
            raise ValueError(f"Mode 'manifold' needs a vae run; {config.model.name!r} is not one.")
        images = latent_manifold(model, size=max(2, int(round(np.sqrt(n)))))
    elif mode == "arithmetic":
        from kerazoo.generative.gan import latent_arithmetic

        if not hasattr(model, "generate"):
            raise ValueError(f"Mode 'arithmetic' needs a dcgan run; {config.model.name!r} is not one.")
        trials = max(1, n // 4)
        images = np.concatenate([latent_arithmetic(model, *rng.standard_normal((3, 3, model.latent_dim)),
                                                   labels=None if not model.num_classes else rng.integers(model.num_classes))
                                 for _ in range(trials)])
        cols = 4
    else:
        from kerazoo.generative.common import to_uint8

        test, _ = datasets.load_arrays(config.data.dataset, config.data.test_split, data_dir=config.data.data_dir)
        originals = test[: max(1, n // 2)].astype("float32")
        if hasattr(model, "decode"):
            rebuilt = to_uint8(model.decode(model.encode(originals)))
        elif hasattr(family, "reconstruct"):
            rebuilt = family.reconstruct(model, originals)
        else:
            raise ValueError(f"Mode 'reconstruct' needs a vae or autoencoder run; {config.model.name!r} is neither.")
        images = np.concatenate([to_uint8(originals), rebuilt])
        cols = len(originals)
    if out:
        save_image_grid(images, out, cols)
    return images


register_task(GenerativeTask())
