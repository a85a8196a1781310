"""Feature inversion (Mahendran and Vedaldi, "Understanding Deep Image Representations by Inverting Them", 2015):
find an image whose features at one layer match those of a given image, under a total-variation prior. What
survives in the reconstruction is what the layer keeps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from keras import ops

from kerazoo.losses.style import total_variation
from kerazoo.visualize.ascent import optimize_image
from kerazoo.io import save_figure
from kerazoo.visualize.common import as_batch, display_image, layer_model, new_figure


@dataclass
class Inversion:
    image: np.ndarray
    """The reconstruction, raw pixels (H, W, C)."""
    feature_loss_before: float
    """Relative feature error ||phi(x) - phi(x0)||^2 / ||phi(x0)||^2 of the starting noise image."""
    feature_loss_after: float


def inversion(model, image, *, layer: str, steps: int = 200, learning_rate: float = 5.0, tv_weight: float = 1e-6,
              seed: int = 0, out: str | None = None) -> Inversion:
    """Reconstruct ``image`` from the features of ``layer``, starting from noise; ``tv_weight`` weighs the total
    variation of the pixels (raw 0-255 units) against the relative feature error."""
    features = layer_model(model, layer)
    image = as_batch(image)
    target = features(image)
    scale = ops.sum(ops.square(target)) + 1e-8

    def feature_loss(images):
        return ops.sum(ops.square(features(images) - target)) / scale

    def loss(images):
        return feature_loss(images) + tv_weight * ops.sum(total_variation(images))

    start = np.random.default_rng(seed).uniform(0, 255, size=image.shape).astype("float32")
    reconstruction, _ = optimize_image(loss, start, steps=steps, learning_rate=learning_rate, seed=seed)
    before = float(ops.convert_to_numpy(feature_loss(start)))
    after = float(ops.convert_to_numpy(feature_loss(reconstruction[None])))
    result = Inversion(image=reconstruction, feature_loss_before=before, feature_loss_after=after)
    if out:
        fig, axes = new_figure(1, 2)
        axes[0, 0].imshow(display_image(image[0]), cmap="gray")
        axes[0, 0].set_title("original", fontsize=9)
        axes[0, 1].imshow(display_image(reconstruction), cmap="gray")
        axes[0, 1].set_title(f"reconstruction: feature loss {before:.3g} → {after:.3g}", fontsize=9)
        save_figure(fig, out, f"Feature inversion from layer {layer} ({steps} steps, TV weight {tv_weight})")
    return result
