"""Occlusion sensitivity (Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", 2014): slide a
grey patch over the image and record the probability of the true class at each position; where it drops, the
network was looking."""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.io import save_figure
from kerazoo.visualize.common import as_batch, display_image, new_figure, show_map


def occlusion_map(model, image, *, class_index: int, patch: int = 6, stride: int = 2, value: float | None = None,
                  batch_size: int = 64, out: str | None = None) -> np.ndarray:
    """Probability of ``class_index`` (H, W) with a ``patch`` x ``patch`` square of ``value`` (default: the image's
    mean pixel) centred on each pixel, sampled every ``stride`` pixels and held in between. The model's outputs are
    logits (kerazoo runs) or probabilities; a softmax turns logits into probabilities."""
    image = as_batch(image)[0]
    height, width = image.shape[:2]
    if not (isinstance(patch, int) and 1 <= patch <= min(height, width)):
        raise ValueError(f"Invalid patch: expected an integer in [1, {min(height, width)}]. Received: patch={patch!r}")
    if not (isinstance(stride, int) and stride >= 1):
        raise ValueError(f"Invalid stride: expected a positive integer. Received: stride={stride!r}")
    value = float(image.mean()) if value is None else float(value)
    centres = [(y, x) for y in range(0, height, stride) for x in range(0, width, stride)]
    occluded = np.repeat(image[None], len(centres), axis=0)
    for k, (y, x) in enumerate(centres):
        occluded[k, max(0, y - patch // 2): y - patch // 2 + patch, max(0, x - patch // 2): x - patch // 2 + patch] = value
    probs = []
    for start in range(0, len(occluded), batch_size):
        probs.append(class_probabilities(model, occluded[start: start + batch_size])[:, class_index])
    probs = np.concatenate(probs)
    values = np.zeros((height, width), dtype="float32")
    for (y, x), p in zip(centres, probs):
        values[y: y + stride, x: x + stride] = p
    if out:
        fig, axes = new_figure(1, 2)
        axes[0, 0].imshow(display_image(image), cmap="gray")
        axes[0, 0].set_title("input", fontsize=9)
        show_map(fig, axes[0, 1], values, f"p(class {class_index}) when occluded", cmap="RdBu")
        save_figure(fig, out, f"Occlusion sensitivity ({patch}x{patch} patch of {value:.0f}, stride {stride})")
    return values


def class_probabilities(model, images) -> np.ndarray:
    """The model's class probabilities: its outputs if they already sum to one, else their softmax."""
    images = np.asarray(images, dtype="float32")
    outputs = keras.ops.convert_to_numpy(model(as_batch(images) if images.ndim == 3 else images, training=False))
    sums = outputs.sum(axis=-1)
    if np.all(outputs >= 0) and np.allclose(sums, 1.0, atol=1e-3):
        return outputs
    return keras.ops.convert_to_numpy(keras.ops.softmax(outputs, axis=-1))
