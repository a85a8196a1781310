"""Maximally activating patches (Girshick et al., "Rich feature hierarchies", 2014; Zeiler and Fergus, 2014): for
chosen units (channels) of a layer, the image crops that excite them most over a dataset. Each crop is the unit's
receptive field, computed from the model's graph (kernel sizes, strides, dilations and padding of every layer on the
way from the input, also through nested models and over the union of parallel branches)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from kerazoo.io import save_figure
from kerazoo.visualize.common import display_image, find_layer, image_grid, layer_model


@dataclass(frozen=True)
class ReceptiveField:
    """Per axis (rows, columns): output unit i sees input pixels [start + i * jump, start + i * jump + size)."""

    size: tuple = (1, 1)
    jump: tuple = (1, 1)
    start: tuple = (0, 0)

    def then(self, kernel, stride, pad_before) -> "ReceptiveField":
        """The field after a layer with these per-axis kernel extents, strides and leading paddings."""
        return ReceptiveField(
            size=tuple(s + (k - 1) * j for s, k, j in zip(self.size, kernel, self.jump)),
            jump=tuple(j * st for j, st in zip(self.jump, stride)),
            start=tuple(t - p * j for t, p, j in zip(self.start, pad_before, self.jump)),
        )

    def compose(self, inner: "ReceptiveField") -> "ReceptiveField":
        """``inner`` measured on this field's outputs, re-expressed in this field's input pixels."""
        return ReceptiveField(
            size=tuple(s + (n - 1) * j for s, n, j in zip(self.size, inner.size, self.jump)),
            jump=tuple(j * n for j, n in zip(self.jump, inner.jump)),
            start=tuple(t + n * j for t, n, j in zip(self.start, inner.start, self.jump)),
        )

    def union(self, other: "ReceptiveField") -> "ReceptiveField":
        start = tuple(min(a, b) for a, b in zip(self.start, other.start))
        end = tuple(max(a + s, b + t) for a, s, b, t in zip(self.start, self.size, other.start, other.size))
        return ReceptiveField(size=tuple(e - s for e, s in zip(end, start)),
                              jump=tuple(max(a, b) for a, b in zip(self.jump, other.jump)), start=start)

    def window(self, row: int, col: int, height: int, width: int) -> tuple:
        """(top, bottom, left, right) of unit (row, col)'s field, clipped to an image of height x width."""
        top, left = self.start[0] + row * self.jump[0], self.start[1] + col * self.jump[1]
        return (max(0, top), min(height, top + self.size[0]), max(0, left), min(width, left + self.size[1]))


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _layer_geometry(layer, input_shape):
    """(kernel extents, strides, leading paddings) of a layer that changes spatial geometry, else None."""
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return (1, 1), (1, 1), tuple(p[0] for p in layer.padding)
    if isinstance(layer, keras.layers.Cropping2D):
        return (1, 1), (1, 1), tuple(-c[0] for c in layer.cropping)
    if hasattr(layer, "kernel_size") and hasattr(layer, "strides"):
        kernel, stride = _pair(layer.kernel_size), _pair(layer.strides)
        dilation = _pair(getattr(layer, "dilation_rate", 1))
    elif hasattr(layer, "pool_size"):
        kernel, stride, dilation = _pair(layer.pool_size), _pair(layer.strides or layer.pool_size), (1, 1)
    else:
        return None
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    pad = (0, 0)
    if getattr(layer, "padding", "valid") == "same":
        sizes = input_shape[1:3]
        pad = tuple(0 if n is None else max((math.ceil(n / s) - 1) * s + e - n, 0) // 2
                    for n, s, e in zip(sizes, stride, extent))
    return extent, stride, pad


def receptive_field(model, layer_name: str) -> ReceptiveField:
    """The receptive field of the units of ``layer_name``'s output in the model's input pixels."""
    layer = find_layer(model, layer_name)
    return _field_of_tensor(_container(model, layer), layer.output, model)


def _field_of_tensor(owner, tensor, root) -> ReceptiveField:
    """Field of ``tensor`` (in ``owner``'s graph) in ``root``'s input pixels."""
    field = _field_in_graph(tensor)
    if owner is root:
        return field
    parent = _container(root, owner)
    node = owner._inbound_nodes[0]
    entry = node.input_tensors[0]
    return _field_of_tensor(parent, entry, root).compose(field)


def _container(root, item):
    """The model (root or nested in it) that has ``item`` among its direct layers; None if there is none."""
    for child in root.layers:
        if child is item:
            return root
        if isinstance(child, keras.Model):
            found = _container(child, item)
            if found is not None:
                return found
    return None


def _field_in_graph(tensor) -> ReceptiveField:
    """Field of ``tensor`` relative to the inputs of the graph it belongs to (walking its history)."""
    op, node_index, _ = tensor._keras_history
    node = op._inbound_nodes[node_index]
    parents = [t for t in node.input_tensors if len(t.shape) == 4]
    if not parents:  # an Input
        return ReceptiveField()
    field = _field_in_graph(parents[0])
    for other in parents[1:]:
        field = field.union(_field_in_graph(other))
    if isinstance(op, keras.Model):
        return field.compose(_field_in_graph(op.outputs[0]))
    geometry = _layer_geometry(op, parents[0].shape)
    return field if geometry is None else field.then(*geometry)


@dataclass
class MaxPatches:
    patches: list
    """patches[u][k]: the k-th strongest crop (raw pixels) for units[u]."""
    units: list
    scores: np.ndarray
    """(units, k) activations of those crops' centre units."""
    field: ReceptiveField


def max_patches(model, images, *, layer: str, units=None, top: int = 6, batch_size: int = 64,
                out: str | None = None) -> MaxPatches:
    """The ``top`` crops of ``images`` (N, H, W, C raw pixels) that most activate each of ``units`` (channel indices
    of ``layer``; default the first 8)."""
    features = layer_model(model, layer)
    field = receptive_field(model, layer)
    images = np.asarray(images, dtype="float32")
    maps = np.concatenate([keras.ops.convert_to_numpy(features(images[i: i + batch_size]))
                           for i in range(0, len(images), batch_size)])
    if maps.ndim != 4:
        raise ValueError(f"Layer {layer!r} outputs shape {maps.shape[1:]}, not feature maps (height, width, channels).")
    channels = maps.shape[-1]
    units = list(range(min(8, channels))) if units is None else [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < channels]
    if bad:
        raise ValueError(f"Invalid units: layer {layer!r} has channels 0..{channels - 1}. Received: units={bad}")
    height, width = images.shape[1:3]
    patches, scores = [], np.zeros((len(units), top), dtype="float32")
    for u, unit in enumerate(units):
        flat = maps[..., unit].reshape(-1)
        best = np.argsort(flat)[::-1][:top]
        row_patches = []
        for k, index in enumerate(best):
            n, row, col = np.unravel_index(index, maps.shape[:3])
            top_, bottom, left, right = field.window(int(row), int(col), height, width)
            row_patches.append(images[n, top_:bottom, left:right])
            scores[u, k] = flat[index]
        patches.append(row_patches)
    result = MaxPatches(patches=patches, units=units, scores=scores, field=field)
    if out:
        tiles = [display_image(p) for row in patches for p in row]
        titles = [f"u{unit}: {scores[u, k]:.2g}" for u, unit in enumerate(units) for k in range(len(patches[u]))]
        fig = image_grid(tiles, titles=titles, cols=top)
        save_figure(fig, out, f"Maximally activating patches of {layer} (receptive field {field.size[0]}x"
                              f"{field.size[1]}, stride {field.jump[0]})")
    return result
