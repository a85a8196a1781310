"""Reading images for a pretrained model with the source's evaluation recipe: resize the shorter side, centre crop.

The pixel preprocessing itself is inside the model (its ``preprocess`` layer); only the geometry is done here.
"""

from __future__ import annotations


import numpy as np

from kerazoo.applications.pretrained.tags import Preprocessing

__all__ = ["load_image"]

_FILTERS = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "lanczos": "LANCZOS"}


def load_image(path: str, preprocessing: Preprocessing, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image file (JPEG, PNG, ...) as float32 RGB pixels 0-255 [H, W, 3]: its shorter side resized to
    ``preprocessing.resize`` and the centre ``preprocessing.crop`` square cut out (``size`` (H, W) instead of the
    crop when the model's input differs)."""
    from PIL import Image

    from kerazoo.io import open_image

    image = open_image(path).convert("RGB")
    crop_h, crop_w = size or (preprocessing.crop, preprocessing.crop)
    if crop_h is None or crop_w is None:
        return np.asarray(image, np.float32)
    resample = getattr(Image.Resampling, _FILTERS.get(preprocessing.interpolation, "BILINEAR"))
    shorter = preprocessing.resize or max(crop_h, crop_w)
    scale = shorter / min(image.size)
    width, height = max(crop_w, round(image.size[0] * scale)), max(crop_h, round(image.size[1] * scale))
    image = image.resize((width, height), resample)
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return np.asarray(image.crop((left, top, left + crop_w, top + crop_h)), np.float32)
