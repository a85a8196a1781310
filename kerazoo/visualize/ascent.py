"""The loop that optimizes an image (class visualization, DeepDream, feature inversion, Gatys style transfer):
Adam on the pixels, with optional jitter (a random shift before each step), periodic Gaussian blur and clipping to
the pixel range, as regularizers that keep the result looking like an image (Yosinski et al., 2015)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerazoo.visualize.gradients import gradient_function


def check_positive(name: str, value, *, integer: bool = False):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if not ok or isinstance(value, bool) or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"Invalid {name}: expected {kind}. Received: {name}={value!r}")
    return value


def optimize_image(loss_fn, image, *, steps: int, learning_rate: float, jitter: int = 0, blur_every: int = 0,
                   blur_sigma: float = 0.5, value_range=(0.0, 255.0), seed: int = 0):
    """Minimize ``loss_fn(batch)`` over the pixels of ``image`` (1, H, W, C); return (image (H, W, C), losses).

    ``losses[i]`` is the loss before step i, and ``losses[-1]`` the loss of the returned image (without jitter).
    """
    from scipy.ndimage import gaussian_filter

    check_positive("steps", steps, integer=True)
    check_positive("learning_rate", learning_rate)
    rng = np.random.default_rng(seed)
    pixels = keras.Variable(np.asarray(image, dtype="float32"), name="pixels")
    optimizer = keras.optimizers.Adam(learning_rate)

    def shifted_loss(x, shift):
        return loss_fn(ops.roll(x, shift, axis=(1, 2)))

    step_gradient = gradient_function(shifted_loss)
    losses = []
    for step in range(steps):
        shift = rng.integers(-jitter, jitter + 1, size=2).astype("int32") if jitter else np.zeros(2, "int32")
        value, grad = step_gradient(ops.convert_to_tensor(pixels), ops.convert_to_tensor(shift))
        losses.append(float(ops.convert_to_numpy(value)))
        optimizer.apply_gradients([(grad, pixels)])
        current = ops.convert_to_numpy(pixels)
        if blur_every and (step + 1) % blur_every == 0:
            current = gaussian_filter(current, sigma=(0, blur_sigma, blur_sigma, 0))
        pixels.assign(np.clip(current, *value_range))
    final = ops.convert_to_numpy(pixels)
    losses.append(float(ops.convert_to_numpy(loss_fn(ops.convert_to_tensor(final)))))
    return final[0], losses
