"""What every visualization shares: finding layers (also inside nested models), splitting a model at a layer,
reading images (decoded by kerazoo.io.read_image) and fitting them to a model; figures are written by
kerazoo.io.save_figure.

Images are float32 raw pixels in [0, 255], (H, W, C), as ``kerazoo.datasets`` yields them and as kerazoo runs'
models take them (each run's model normalizes its own input).
"""

from __future__ import annotations

import difflib
import os

import keras
import numpy as np

from kerazoo.io import atomic_file
from kerazoo.io import read_image as read_image_file

# --------------------------------------------------------------------------------------------------- layers


def iter_layers(model, prefix: str = ""):
    """(path, layer) for every layer, depth first; a nested model's layers are listed after it as ``outer/inner``."""
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        yield path, layer
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer, prefix=f"{path}/")


def find_layer(model, name: str):
    """The layer called ``name`` (a plain name, found at any depth, or an ``outer/inner`` path). An unknown name is a
    ValueError listing the closest layer names."""
    paths = dict(iter_layers(model))
    if name in paths:
        return paths[name]
    by_name = [layer for path, layer in paths.items() if path.split("/")[-1] == name]
    if by_name:
        return by_name[0]
    names = sorted({path.split("/")[-1] for path in paths} | set(paths))
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise ValueError(f"Model {model.name!r} has no layer named {name!r}.{hint} Layers: {', '.join(paths)}.")


def _single(tensors):
    return tensors[0] if isinstance(tensors, (list, tuple)) and len(tensors) == 1 else tensors


def _owner(model, layer):
    """The direct child of ``model`` that is ``layer`` or (a nested model) contains it."""
    for child in model.layers:
        if child is layer:
            return child
        if isinstance(child, keras.Model) and any(inner is layer for _, inner in iter_layers(child)):
            return child
    raise ValueError(f"Layer {layer.name!r} is not part of model {model.name!r}.")


def split_at(model, layer):
    """Two callables, ``head(images) -> activations of layer`` and ``tail(activations) -> model outputs``.

    Works on Sequential and functional models and recurses into nested models (a backbone inside a classifier).
    ``tail`` exists only where everything after ``layer`` depends on the images through ``layer`` alone (no skip
    connection around it); otherwise building it raises a ValueError naming the layer.
    """
    child = _owner(model, layer)
    inputs, outputs = _single(model.inputs), _single(model.outputs)
    if child is layer:
        head = keras.Model(inputs, layer.output, name=f"{model.name}_to_{layer.name}")
        if layer.output is outputs:
            return head, _identity
        try:
            tail = keras.Model(layer.output, outputs, name=f"{model.name}_from_{layer.name}")
        except ValueError as error:
            raise ValueError(
                f"The outputs of {model.name!r} do not depend on the images through layer {layer.name!r} alone "
                f"(a connection bypasses it), so it cannot be the split point: {error}"
            ) from None
        return head, tail
    node = child._inbound_nodes[0]
    sub_head, sub_tail = split_at(child, layer)
    child_in, child_out = _single(node.input_tensors), _single(node.output_tensors)
    before = None if child_in is inputs else keras.Model(inputs, child_in, name=f"{model.name}_to_{child.name}")
    after = None if child_out is outputs else keras.Model(child_out, outputs, name=f"{model.name}_from_{child.name}")

    def head(images):
        return sub_head(before(images) if before is not None else images)

    def tail(activations):
        out = sub_tail(activations)
        return after(out) if after is not None else out

    return head, tail


def _identity(tensor):
    return tensor


def layer_model(model, layer_name: str):
    """A callable ``images -> activations`` of the named layer (any depth)."""
    head, _ = split_at(model, find_layer(model, layer_name))
    return head


def model_image_shape(model) -> tuple:
    """(H, W, C) of the model's image input; None for sizes the model leaves open."""
    shape = model.inputs[0].shape
    if len(shape) != 4:
        raise ValueError(f"Expected a model taking images (batch, height, width, channels). Received input shape {shape}.")
    return tuple(shape[1:])


def as_batch(image) -> np.ndarray:
    """An (H, W, C) image or a (1, H, W, C) batch as a float32 batch of one."""
    image = np.asarray(image, dtype="float32")
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"Invalid image: expected (height, width, channels). Received shape {image.shape}.")
    return image


def predict_class(model, image) -> int:
    return int(np.argmax(keras.ops.convert_to_numpy(model(as_batch(image), training=False))[0]))


# --------------------------------------------------------------------------------------------------- images


def read_image(path: str, shape: tuple | None = None) -> np.ndarray:
    """Read an image file as float32 raw pixels (H, W, C) in [0, 255], converted to ``shape`` (H, W, C) when given:
    resized, and grey↔RGB as the channel count asks."""
    return fit_image(read_image_file(path).astype(np.uint8), shape)  # uint8: fit_image scales floats <= 1


def fit_image(image, shape: tuple | None = None) -> np.ndarray:
    """Pixels (H, W), (H, W, C) → float32 (H, W, C) in [0, 255], resized and channel-converted to ``shape``."""
    from skimage import color, transform

    image = np.asarray(image)
    if image.dtype != np.uint8 and image.size and image.max() <= 1.0:
        image = image * 255.0
    image = image.astype("float32")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"Invalid image: expected (height, width[, channels]). Received shape {image.shape}.")
    if image.shape[-1] == 4:
        image = image[..., :3]
    if shape is None:
        return image
    height, width, channels = shape
    if channels == 1 and image.shape[-1] == 3:
        image = color.rgb2gray(image / 255.0)[..., None] * 255.0
    elif channels == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if height is not None and image.shape[:2] != (height, width):
        image = transform.resize(image, (height, width), preserve_range=True, anti_aliasing=True)
    return image.astype("float32")


def normalize_for_display(array) -> np.ndarray:
    """Scale to [0, 1] (a constant array becomes zeros)."""
    array = np.asarray(array, dtype="float32")
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def display_image(image) -> np.ndarray:
    """Raw pixels (H, W, C) → what ``imshow`` takes: (H, W) for grey images, (H, W, 3) in [0, 1] for colour."""
    image = np.clip(np.asarray(image, dtype="float32") / 255.0, 0.0, 1.0)
    return image[..., 0] if image.shape[-1] == 1 else image


# --------------------------------------------------------------------------------------------------- figures


FIGURE_INCHES = (8.0, 6.0)
FIGURE_DPI = 100
FIGURE_PIXELS = (int(FIGURE_INCHES[0] * FIGURE_DPI), int(FIGURE_INCHES[1] * FIGURE_DPI))
"""Every figure is 800 x 600 pixels (width, height), whatever its panels, so pages and tests know its size."""


def new_figure(rows: int = 1, cols: int = 1):
    """A figure of rows x cols panels with their axes off."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=FIGURE_INCHES, dpi=FIGURE_DPI, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def save_image(image, path: str) -> str:
    """Write raw pixels (H, W, C), clipped to 0-255, as a PNG of the image's own size to ``path`` (temp name, then
    rename); return the path."""
    from PIL import Image

    if not str(path).lower().endswith(".png"):
        raise ValueError(f"Invalid out: expected a path ending in .png. Received: out={path!r}")
    pixels = np.clip(np.rint(np.asarray(image, dtype="float32")), 0, 255).astype(np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path) as tmp:
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(tmp, format="PNG")
    return path


def show_map(fig, ax, values, title: str, *, cmap="viridis", image=None, alpha=0.5, colorbar=True):
    """Draw a heat map (optionally over ``image``) with a colour bar on ``ax``."""
    if image is not None:
        ax.imshow(display_image(image), cmap="gray")
    shown = ax.imshow(values, cmap=cmap, alpha=alpha if image is not None else 1.0)
    ax.set_title(title, fontsize=9)
    if colorbar:
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)


def mosaic(tiles, *, cols: int = 8, gap: int = 1, fill=np.nan) -> np.ndarray:
    """Equal-sized tiles (each (H, W) or (H, W, 3)) as one array, ``cols`` per row with ``gap`` pixels of ``fill``
    between them: one ``imshow`` instead of one axes per tile (fast even for hundreds of tiles)."""
    tiles = np.asarray(tiles, dtype="float32")
    count, height, width = tiles.shape[:3]
    cols = max(1, min(cols, count))
    rows = int(np.ceil(count / cols))
    canvas = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap, *tiles.shape[3:]), fill, "float32")
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        canvas[r * (height + gap): r * (height + gap) + height, c * (width + gap): c * (width + gap) + width] = tile
    return canvas


def image_grid(tiles, *, titles=None, cols: int = 8, cmap="gray"):
    """A figure showing ``tiles`` (each (H, W) or (H, W, 3) in display range, sizes may differ) in a grid, each with
    its title."""
    count = len(tiles)
    cols = max(1, min(cols, count))
    rows = int(np.ceil(count / cols))
    fig, axes = new_figure(rows, cols)
    for i, tile in enumerate(tiles):
        ax = axes.flat[i]
        ax.imshow(tile, cmap=cmap)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=7)
    return fig
