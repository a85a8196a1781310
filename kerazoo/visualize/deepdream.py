"""DeepDream (Mordvintsev, Olah and Tyka, "Inceptionism: Going Deeper into Neural Networks", 2015): gradient ascent
on the image for the squared activations of one layer, at several scales ("octaves"), smallest first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from keras import ops

from kerazoo.visualize.ascent import check_positive, optimize_image
from kerazoo.io import save_figure
from kerazoo.visualize.common import as_batch, display_image, layer_model, model_image_shape, new_figure


@dataclass
class DeepDream:
    image: np.ndarray
    """The dreamed image, raw pixels (H, W, C)."""
    activation_before: float
    """Mean squared activation of the layer for the input image."""
    activation_after: float


def deepdream(model, image, *, layer: str, octaves: int = 3, octave_scale: float = 1.4, steps: int = 20,
              learning_rate: float = 2.0, jitter: int = 1, out: str | None = None) -> DeepDream:
    """Amplify what ``layer`` sees in ``image``. Models with a fixed input size are dreamed at that size only
    (``octaves`` then repeats the ascent); models that accept any size start at ``1 / octave_scale**(octaves-1)``."""
    from skimage.transform import resize

    check_positive("octaves", octaves, integer=True)
    features = layer_model(model, layer)
    image = as_batch(image)
    height, width = image.shape[1:3]
    fixed = None not in model_image_shape(model)[:2]

    def loss(images):
        return -ops.mean(ops.square(features(images)))

    before = -float(ops.convert_to_numpy(loss(image)))
    dream = image[0]
    for octave in range(octaves):
        size = (height, width) if fixed else tuple(
            max(8, int(round(side / octave_scale ** (octaves - 1 - octave)))) for side in (height, width))
        dream = resize(dream, size, preserve_range=True, anti_aliasing=True).astype("float32")
        dream, _ = optimize_image(loss, dream[None], steps=steps, learning_rate=learning_rate, jitter=jitter,
                                  seed=octave)
    after = -float(ops.convert_to_numpy(loss(dream[None])))
    result = DeepDream(image=dream, activation_before=before, activation_after=after)
    if out:
        fig, axes = new_figure(1, 2)
        axes[0, 0].imshow(display_image(image[0]), cmap="gray")
        axes[0, 0].set_title("input", fontsize=9)
        axes[0, 1].imshow(display_image(dream), cmap="gray")
        axes[0, 1].set_title(f"mean squared activation {before:.3g} → {after:.3g}", fontsize=9)
        save_figure(fig, out, f"DeepDream on layer {layer} ({octaves} octaves x {steps} steps)")
    return result
