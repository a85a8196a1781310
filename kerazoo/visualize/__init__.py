"""kerazoo.visualize: what a trained network learned, as pictures (the "visualizing and understanding" lecture).

Every method is a function taking a Keras model (any zoo model or a run's checkpoint; Sequential, functional or with
a nested backbone) and raw-pixel images, returning its values and writing a titled PNG (800 x 600 pixels, with a
colour bar where values matter) when given ``out``:

    from kerazoo.visualize import saliency, gradcam
    values = saliency(model, image, out="saliency.png")
    cam = gradcam(model, image, out="gradcam.png"); print(cam.layer)   # the layer Grad-CAM chose

:func:`visualize` runs one method by name on a run directory, as ``kerazoo visualize RUN METHOD`` does.
Neural style transfer lives in :mod:`kerazoo.visualize.style`.
"""

from __future__ import annotations

import difflib
import os

import numpy as np

# Functions share their modules' names (gradcam, filters, ...): importing them here makes kerazoo.visualize.gradcam
# the function, as users expect.
from kerazoo.visualize.class_model import ClassVisualization, class_model
from kerazoo.visualize.common import FIGURE_PIXELS, find_layer, read_image, split_at
from kerazoo.visualize.deepdream import DeepDream, deepdream
from kerazoo.visualize.embedding import Neighbours, neighbors, penultimate_features, tsne
from kerazoo.visualize.filters import activations, filters
from kerazoo.visualize.gradcam import GradCAM, find_gradcam_layer, gradcam
from kerazoo.visualize.gradients import GuidedReLU, guided_backprop, guided_model, saliency, value_and_gradient
from kerazoo.visualize.inversion import Inversion, inversion
from kerazoo.visualize.max_patches import MaxPatches, ReceptiveField, max_patches, receptive_field
from kerazoo.visualize.occlusion import occlusion_map

__all__ = [
    "METHODS", "visualize", "activations", "class_model", "deepdream", "filters", "gradcam", "guided_backprop",
    "inversion", "inversion_layer", "max_patches", "neighbors", "occlusion_map", "saliency", "tsne", "find_gradcam_layer",
    "find_layer", "guided_model", "penultimate_features", "read_image", "receptive_field", "split_at",
    "value_and_gradient", "ClassVisualization", "DeepDream", "GradCAM", "GuidedReLU", "Inversion", "MaxPatches",
    "Neighbours", "ReceptiveField", "FIGURE_PIXELS",
]

METHODS = ("filters", "activations", "max_patches", "occlusion", "saliency", "guided_backprop", "gradcam",
           "class_model", "deepdream", "inversion", "tsne", "neighbors")
DATASET_METHODS = ("max_patches", "tsne", "neighbors")
"""Methods that look at many images of a dataset rather than at one image."""
LAYER_METHODS = ("activations", "max_patches", "deepdream", "inversion")


def check_method(method: str) -> str:
    if method not in METHODS:
        close = difflib.get_close_matches(method, METHODS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown method {method!r}.{hint} Methods: {', '.join(METHODS)}.")
    return method


def inversion_layer(model, model_name: str) -> str:
    """The layer feature inversion reconstructs from by default: the middle feature tap of the model's family
    (ResNet-20: stage 2 of 3). Mahendran and Vedaldi's reconstructions stay recognisable up to the middle layers and
    turn abstract after them (a Fashion-MNIST ResNet-20's last stage gives pixel correlation 0.69, stage 2 0.89);
    models without taps use the last spatial layer."""
    from kerazoo.applications import get_entry

    try:
        taps = get_entry(model_name).feature_taps
    except ValueError:
        taps = ()
    names = {layer.name for layer in model.layers}
    present = [tap.layer for tap in taps if tap.layer in names]
    return present[len(present) // 2] if present else find_gradcam_layer(model)


def visualize(run_dir: str, method: str, *, out: str, image: str | None = None, dataset: str | None = None,
              index: int = 0, split: str = "test", data_dir: str | None = None, layer: str | None = None,
              class_index: int | None = None, limit: int = 500, steps: int | None = None) -> str:
    """Run ``method`` on the best checkpoint of ``run_dir`` and write ``OUT/<method>.png``; return its path.

    The image is ``image`` (a file, fitted to the model's input) or example ``index`` of ``dataset``'s ``split``
    (default: the run's dataset); dataset-wide methods use the split's first ``limit`` examples.
    """
    from kerazoo.datasets import load_arrays
    from kerazoo.training import load_run_config
    from kerazoo.runs import RunDir

    check_method(method)
    model = RunDir(run_dir).load_model()
    config = load_run_config(run_dir)
    dataset = dataset or config.data.dataset
    data_dir = data_dir if data_dir is not None else (config.data.data_dir if dataset == config.data.dataset else None)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{method}.png")
    shape = tuple(model.inputs[0].shape[1:])
    if method in DATASET_METHODS or image is None:
        images, labels = load_arrays(dataset, f"{split}[:{limit}]", data_dir=data_dir)
        images = images.astype("float32")
        if image is None and not 0 <= index < len(images):
            raise ValueError(f"Invalid index: expected an integer in [0, {len(images)}). Received: index={index!r}")
    picture = read_image(image, shape) if image else images[index]
    label = None if image else int(labels[index])
    steps_kw = {} if steps is None else {"steps": steps}
    if method == "inversion" and layer is None:
        layer = inversion_layer(model, config.model.name)
    if method in LAYER_METHODS and layer is None:
        layer = find_gradcam_layer(model)  # the last layer with spatial feature maps
    if method == "filters":
        filters(model, layer=layer, out=path)
    elif method == "activations":
        activations(model, picture, layer=layer, out=path)
    elif method == "max_patches":
        max_patches(model, images, layer=layer, out=path)
    elif method == "occlusion":
        target = class_index if class_index is not None else label
        if target is None:
            target = int(np.argmax(model(picture[None], training=False)[0]))
        occlusion_map(model, picture, class_index=target, out=path)
    elif method == "saliency":
        saliency(model, picture, class_index=class_index, out=path)
    elif method == "guided_backprop":
        guided_backprop(model, picture, class_index=class_index, out=path)
    elif method == "gradcam":
        gradcam(model, picture, class_index=class_index, layer=layer, out=path)
    elif method == "class_model":
        class_model(model, class_index=class_index if class_index is not None else (label or 0), out=path, **steps_kw)
    elif method == "deepdream":
        deepdream(model, picture, layer=layer, out=path, **steps_kw)
    elif method == "inversion":
        inversion(model, picture, layer=layer, out=path, **steps_kw)
    elif method == "tsne":
        tsne(model, images, labels, out=path)
    elif method == "neighbors":
        neighbors(model, images, queries=(index,), out=path)
    return path
