"""First-layer filters as an image grid, and the activation maps of any named layer (Zeiler and Fergus,
"Visualizing and Understanding Convolutional Networks", 2014; Yosinski et al., "Understanding Neural Networks
Through Deep Visualization", 2015)."""

from __future__ import annotations

import numpy as np
from keras import ops

from kerazoo.io import save_figure
from kerazoo.visualize.common import (
    as_batch, find_layer, iter_layers, layer_model, mosaic, new_figure, normalize_for_display,
)
from kerazoo.visualize.gradcam import CONV_TYPES


def first_conv_layer(model):
    for _, layer in iter_layers(model):
        if isinstance(layer, CONV_TYPES):
            return layer
    raise ValueError(f"Model {model.name!r} has no convolutional layer, so it has no filters to show.")


def filters(model, *, layer: str | None = None, out: str | None = None, max_filters: int = 64) -> np.ndarray:
    """The kernels (count, kh, kw, C) of ``layer`` (default: the first convolution); each drawn as an RGB tile
    (3 input channels) or a grey tile (the mean over input channels), scaled on its own, in filter order."""
    conv = find_layer(model, layer) if layer else first_conv_layer(model)
    if not isinstance(conv, CONV_TYPES):
        raise ValueError(f"Layer {conv.name!r} is a {type(conv).__name__}, not a convolution; it has no filters.")
    kernel = ops.convert_to_numpy(conv.kernel)  # (kh, kw, in, out)
    tiles = np.transpose(kernel, (3, 0, 1, 2))[:max_filters]
    if out:
        shown = [normalize_for_display(t if t.shape[-1] == 3 else t.mean(axis=-1)) for t in tiles]
        fig, axes = new_figure(1, 1)
        axes[0, 0].imshow(mosaic(shown, fill=1.0), cmap="gray", interpolation="nearest")
        save_figure(fig, out, f"Filters of {conv.name} ({kernel.shape[0]}x{kernel.shape[1]}, "
                              f"{kernel.shape[3]} filters, each scaled to its own range)")
    return tiles


def activations(model, image, *, layer: str, out: str | None = None, max_maps: int = 64) -> np.ndarray:
    """The activation maps (H', W', C') of ``layer`` for one image; the PNG shares one colour scale."""
    values = ops.convert_to_numpy(layer_model(model, layer)(as_batch(image)))[0]
    if values.ndim != 3:
        raise ValueError(f"Layer {layer!r} outputs shape {values.shape}, not feature maps (height, width, channels).")
    if out:
        maps = np.transpose(values, (2, 0, 1))[:max_maps]
        fig, axes = new_figure(1, 1)
        shown = axes[0, 0].imshow(mosaic(maps), cmap="viridis", interpolation="nearest")
        fig.colorbar(shown, ax=axes[0, 0], fraction=0.046, pad=0.04, label="activation")
        save_figure(fig, out, f"Activations of {layer} ({values.shape[0]}x{values.shape[1]}, "
                              f"first {len(maps)} of {values.shape[2]} channels)")
    return values
