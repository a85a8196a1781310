"""Data augmentation by name for the ``tf.data`` pipelines, and test-time augmentation for evaluation.

    datasets.load("fashion_mnist", "train", augment=["crop", "flip", "erase"])     # or data.augment in a config

Per-example augmentations (raw float pixels 0-255, [H, W, C]), applied in the order of ``AUGMENTATIONS``:
- ``crop``: zero-pad by H/8 (4 pixels at 32x32, as in He et al., 2016) and crop back at a random position.
- ``scale``: zoom by a random factor in [0.8, 1.25] (resize, then centre crop or pad back to the size).
- ``flip``: horizontal flip with probability 1/2.
- ``color``: random brightness (±0.2 of the range), contrast and, for RGB, saturation in [0.8, 1.2].
- ``pca_lighting``: AlexNet's lighting noise (Krizhevsky et al., 2012, section 4.1): add Σ α_i λ_i p_i with
  α_i ~ N(0, 0.1) along the principal components p_i (eigenvalues λ_i) of ImageNet's RGB pixels; RGB only.
- ``erase``: random erasing (Zhong et al., 2020): with probability 1/2 fill a random rectangle of 2-33 % of the
  image (aspect 0.3-3.3) with uniform noise.
Per-batch:
- ``mixup`` (Zhang et al., 2018): x = λ x_i + (1 - λ) x_j and the same mix of one-hot labels, λ ~ Beta(0.2, 0.2);
  the labels become [B, C] soft targets (``kerazoo.losses`` classification losses take them).

Test-time augmentation: :func:`tta_predict` averages the softmax over fixed crops (centre and four corners of the
padded image) and their horizontal flips.
"""

from __future__ import annotations

import difflib

import numpy as np

AUGMENTATIONS = ("crop", "scale", "flip", "color", "pca_lighting", "erase")
BATCH_AUGMENTATIONS = ("mixup",)
NAMES = AUGMENTATIONS + BATCH_AUGMENTATIONS

# ImageNet RGB principal components on 0-1 pixels (as used by fb.resnet.torch for AlexNet-style lighting).
PCA_EIGENVALUES = (0.2175, 0.0188, 0.0045)
PCA_EIGENVECTORS = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))


def check_names(augment, allowed=NAMES, context: str = "") -> tuple:
    """The names as a tuple, or a ValueError naming the first one not in ``allowed``, with close matches
    (``context`` follows "Invalid augment" in the message, e.g. " for the detection task")."""
    augment = tuple(augment or ())
    for name in augment:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=2)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ValueError(f"Invalid augment{context}: {name!r} is not one of {', '.join(allowed)}.{hint} "
                             f"Received: augment={list(augment)!r}")
    return augment


def _pad_crop(image, shape):
    import tensorflow as tf

    pad = max(2, shape[0] // 8)
    image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    return tf.image.random_crop(image, shape)


def _scale(image, shape):
    import tensorflow as tf

    factor = tf.random.uniform([], 0.8, 1.25)
    size = tf.cast(tf.round(tf.cast(shape[:2], tf.float32) * factor), tf.int32)
    image = tf.image.resize(image, size)
    return tf.image.resize_with_crop_or_pad(image, shape[0], shape[1])


def _color(image, shape):
    import tensorflow as tf

    image = image + tf.random.uniform([], -0.2, 0.2) * 255.0
    mean = tf.reduce_mean(image)
    image = (image - mean) * tf.random.uniform([], 0.8, 1.2) + mean
    if shape[-1] == 3:
        grey = tf.reduce_mean(image, axis=-1, keepdims=True)
        image = (image - grey) * tf.random.uniform([], 0.8, 1.2) + grey
    return tf.clip_by_value(image, 0.0, 255.0)


def _pca_lighting(image, shape):
    import tensorflow as tf

    alpha = tf.random.normal([3], stddev=0.1)
    noise = tf.linalg.matvec(tf.constant(PCA_EIGENVECTORS), alpha * tf.constant(PCA_EIGENVALUES))
    return tf.clip_by_value(image + 255.0 * noise, 0.0, 255.0)


def _erase(image, shape):
    import tensorflow as tf

    height, width = shape[0], shape[1]
    area = tf.random.uniform([], 0.02, 0.33) * height * width
    aspect = tf.exp(tf.random.uniform([], np.log(0.3), np.log(3.3)))
    h = tf.clip_by_value(tf.cast(tf.sqrt(area * aspect), tf.int32), 1, height)
    w = tf.clip_by_value(tf.cast(tf.sqrt(area / aspect), tf.int32), 1, width)
    top = tf.random.uniform([], 0, height - h + 1, tf.int32)
    left = tf.random.uniform([], 0, width - w + 1, tf.int32)
    rows, cols = tf.range(height)[:, None], tf.range(width)[None, :]
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
    inside = inside[..., None] & (tf.random.uniform([]) < 0.5)
    return tf.where(inside, tf.random.uniform(shape, 0.0, 255.0), image)


def _flip(image, shape):
    import tensorflow as tf

    return tf.image.random_flip_left_right(image)


RGB_ONLY = ("pca_lighting",)
"""Augmentations defined on RGB pixels only."""

_FUNCTIONS = {"crop": _pad_crop, "scale": _scale, "flip": _flip, "color": _color, "pca_lighting": _pca_lighting,
              "erase": _erase}


def example_fn(augment, image_shape):
    """A ``(image, label) → (image, label)`` map applying the per-example augmentations named in ``augment``."""
    names = [name for name in AUGMENTATIONS if name in check_names(augment)]
    shape = tuple(image_shape)
    rgb_only = [name for name in names if name in RGB_ONLY]
    if rgb_only and shape[-1] != 3:
        # Checked here, before tf.data traces the map, so the mistake is one line rather than a graph traceback.
        raise ValueError(f"Invalid augment: {', '.join(rgb_only)} needs RGB images; these have {shape[-1]} "
                         f"channel(s). Received: augment={list(augment)!r}, image_shape={shape!r}")

    def apply(image, label):
        for name in names:
            image = _FUNCTIONS[name](image, shape)
        return image, label

    return apply


def batch_fn(augment, num_classes: int, alpha: float = 0.2):
    """A batched ``(images, labels) → (images, labels)`` map for the per-batch augmentations (mixup), or None."""
    import tensorflow as tf

    if "mixup" not in check_names(augment):
        return None

    def mixup(images, labels):
        a = tf.random.gamma([], alpha)
        b = tf.random.gamma([], alpha)
        lam = a / (a + b)
        targets = tf.one_hot(labels, num_classes)
        return (lam * images + (1 - lam) * tf.reverse(images, [0]),
                lam * targets + (1 - lam) * tf.reverse(targets, [0]))

    return mixup


def tta_views(images, *, pad: int | None = None, flips: bool = True) -> list[np.ndarray]:
    """Fixed test-time views of a batch: the centre and four corner crops of the zero-padded images, and (with
    ``flips``) their mirror images; 10 views by default."""
    images = np.asarray(images, "float32")
    height, width = images.shape[1:3]
    pad = max(2, height // 8) if pad is None else pad
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    offsets = [(pad, pad), (0, 0), (0, 2 * pad), (2 * pad, 0), (2 * pad, 2 * pad)]
    views = [padded[:, r:r + height, c:c + width] for r, c in offsets]
    if flips:
        views += [v[:, :, ::-1] for v in views]
    return views


def tta_predict(model, images, *, pad: int | None = None, flips: bool = True, batch_size: int = 256) -> np.ndarray:
    """Mean softmax probabilities of a raw-pixel → logits model over the :func:`tta_views` of ``images``."""
    import keras

    views = tta_views(images, pad=pad, flips=flips)
    logits = model.predict(np.concatenate(views), batch_size=batch_size, verbose=0)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))
    return probabilities.reshape(len(views), len(views[0]), -1).mean(axis=0)
