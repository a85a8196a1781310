"""Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
ICCV 2017): weight the feature maps A^k of a late convolutional layer by the spatial mean of d score_c / d A^k, sum,
ReLU, and upsample to the image.

The target layer is chosen automatically as the last layer with spatial feature maps (4-D output with more than one
position) that comes after a convolution, in Sequential, functional and nested-backbone models alike; the result
says which layer it took.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from kerazoo.io import save_figure
from kerazoo.visualize.common import (
    as_batch, find_layer, iter_layers, new_figure, predict_class, show_map, split_at, display_image,
)
from kerazoo.visualize.gradients import check_class_index, value_and_gradient

CONV_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
              keras.layers.Conv2DTranspose)


@dataclass
class GradCAM:
    heatmap: np.ndarray
    """(H, W) in [0, 1], at the image's size."""
    layer: str
    """The layer the map was taken from (``outer/inner`` inside nested models)."""
    class_index: int


def _spatial(layer) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4 and not (shape[1] == 1 and shape[2] == 1)


def find_gradcam_layer(model) -> str:
    """Path of the last layer with spatial feature maps after the first convolution (``outer/inner`` when nested)."""
    layers = [(path, layer) for path, layer in iter_layers(model) if not isinstance(layer, keras.Model)]
    first_conv = next((i for i, (_, layer) in enumerate(layers) if isinstance(layer, CONV_TYPES)), None)
    if first_conv is None:
        raise ValueError(
            f"Grad-CAM needs a convolutional layer, and model {model.name!r} has none "
            f"(layer types: {', '.join(sorted({type(layer).__name__ for _, layer in layers}))})."
        )
    for path, layer in reversed(layers[first_conv:]):
        if _spatial(layer):
            return path
    raise ValueError(f"Model {model.name!r} has no layer with spatial feature maps after its first convolution.")


def gradcam(model, image, *, class_index: int | None = None, layer: str | None = None, out: str | None = None) -> GradCAM:
    """Grad-CAM heat map of ``class_index`` (default: the predicted class) for one image; a PNG at ``out`` if given."""
    from skimage.transform import resize

    image = as_batch(image)
    class_index = predict_class(model, image) if class_index is None else check_class_index(model, class_index)
    layer_path = layer or find_gradcam_layer(model)
    head, tail = split_at(model, find_layer(model, layer_path))
    activations = head(image)

    def score(features):
        return ops.sum(tail(features)[:, class_index])

    _, grads = value_and_gradient(score, activations)
    weights = ops.mean(grads, axis=(1, 2), keepdims=True)
    cam = ops.convert_to_numpy(ops.relu(ops.sum(weights * activations, axis=-1)))[0]
    heatmap = resize(cam, image.shape[1:3], order=1, mode="edge")
    heatmap = heatmap / heatmap.max() if heatmap.max() > 0 else heatmap
    result = GradCAM(heatmap=heatmap, layer=layer_path, class_index=class_index)
    if out:
        fig, axes = new_figure(1, 2)
        axes[0, 0].imshow(display_image(image[0]), cmap="gray")
        axes[0, 0].set_title("input", fontsize=9)
        show_map(fig, axes[0, 1], heatmap, f"layer {layer_path}", cmap="jet", image=image[0])
        save_figure(fig, out, f"Grad-CAM for class {class_index} (layer {layer_path})")
    return result
