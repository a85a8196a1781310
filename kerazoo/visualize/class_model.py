"""Class model visualization (Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional Networks", 2014):
gradient ascent on the input for the score of one class, with an L2 penalty on the pixels, jitter and blur
(Yosinski et al., 2015) so that the image stays natural-looking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from keras import ops

from kerazoo.visualize.ascent import optimize_image
from kerazoo.io import save_figure
from kerazoo.visualize.common import display_image, model_image_shape, new_figure
from kerazoo.visualize.gradients import check_class_index


@dataclass
class ClassVisualization:
    image: np.ndarray
    """The synthesized image, raw pixels (H, W, C)."""
    class_index: int
    score_before: float
    """The class score (the model's output for the class) of the starting image."""
    score_after: float


def class_model(model, *, class_index: int, steps: int = 100, learning_rate: float = 2.0, l2: float = 1e-3,
                jitter: int = 1, blur_every: int = 10, seed: int = 0, out: str | None = None) -> ClassVisualization:
    """Synthesize an image that maximizes ``score_c(x) - l2 * mean(((x - 127.5) / 127.5)^2) * score scale``.

    Starts from mid-grey plus a little noise; ``learning_rate`` is in raw pixel units (0-255).
    """
    class_index = check_class_index(model, class_index)
    shape = model_image_shape(model)
    if None in shape:
        raise ValueError(f"class_model needs a model with a fixed input size. Received input shape {shape}.")
    rng = np.random.default_rng(seed)
    start = (127.5 + rng.normal(0, 10, size=(1, *shape))).astype("float32")

    def score(images):
        return ops.sum(model(images, training=False)[:, class_index])

    def loss(images):
        return -score(images) + l2 * ops.sum(ops.square((images - 127.5) / 127.5))

    image, _ = optimize_image(loss, start, steps=steps, learning_rate=learning_rate, jitter=jitter,
                              blur_every=blur_every, seed=seed)
    before = float(ops.convert_to_numpy(score(start)))
    after = float(ops.convert_to_numpy(score(image[None])))
    result = ClassVisualization(image=image, class_index=class_index, score_before=before, score_after=after)
    if out:
        fig, axes = new_figure(1, 1)
        axes[0, 0].imshow(display_image(image), cmap="gray")
        save_figure(fig, out, f"Class model for class {class_index}: score {before:.2f} → {after:.2f} "
                              f"({steps} steps, L2 {l2}, jitter {jitter}, blur every {blur_every})")
    return result
