"""Masked convolutions for autoregressive image models (van den Oord et al., Pixel Recurrent Neural Networks, 2016).

A PixelCNN predicts pixel (i, j) from the pixels before it in raster order (rows top to bottom, left to right in a
row). A convolution sees that order when its kernel is zeroed below the centre row and right of the centre in the
centre row. Mask "A" (first layer) also zeroes the centre, so a pixel never sees itself; mask "B" (every later layer)
keeps the centre, since the feature there already depends only on earlier pixels.

Channels within one pixel are treated as one unit: every output channel at (i, j) depends on all input channels of
earlier pixels (and, for mask B, of (i, j)). For grayscale images this is the exact raster order; for colour images
the channels of one pixel are modelled as conditionally independent given the earlier pixels.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["MaskedConv2D", "causal_mask"]

MASK_TYPES = ("A", "B")


def causal_mask(kernel_size: tuple[int, int], mask_type: str) -> np.ndarray:
    """The (kh, kw) 0/1 mask of a raster-order causal kernel: 1 above the centre row and left of the centre
    (and at the centre for mask "B")."""
    if mask_type not in MASK_TYPES:
        raise ValueError(f"Invalid mask_type: expected one of {MASK_TYPES}. Received: mask_type={mask_type!r}")
    kh, kw = kernel_size
    mask = np.zeros((kh, kw), dtype="float32")
    mask[: kh // 2, :] = 1.0
    mask[kh // 2, : kw // 2 + (mask_type == "B")] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="kerazoo")
class MaskedConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` (stride 1, "same" padding, odd kernel) whose kernel is masked to respect raster order.

    Args:
        mask_type: "A" (excludes the centre pixel: the first layer, which sees the image itself) or "B" (includes it:
            every later layer).
        **kwargs: ``keras.layers.Conv2D`` arguments (``filters``, ``kernel_size``, ``activation``, ...).
    """

    def __init__(self, filters: int, kernel_size, *, mask_type: str = "B", **kwargs):
        if kwargs.get("padding", "same") != "same":
            raise ValueError(f"Invalid padding: expected 'same'. Received: padding={kwargs['padding']!r}")
        kwargs["padding"] = "same"
        super().__init__(filters, kernel_size, **kwargs)
        if tuple(self.strides) != (1, 1) or tuple(self.dilation_rate) != (1, 1):
            raise ValueError(
                "Invalid strides/dilation_rate: expected 1 (a strided or dilated mask is not raster-order causal). "
                f"Received: strides={kwargs.get('strides')!r}, dilation_rate={kwargs.get('dilation_rate')!r}"
            )
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(
                f"Invalid kernel_size: expected odd sizes (the mask needs a centre). Received: kernel_size={kernel_size!r}"
            )
        self.mask_type = mask_type
        self._mask = causal_mask(self.kernel_size, mask_type)[:, :, None, None]

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * ops.convert_to_tensor(self._mask, dtype=kernel.dtype))

    def get_config(self):
        return {**super().get_config(), "mask_type": self.mask_type}
