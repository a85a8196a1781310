"""Translated and cluttered Fashion-MNIST on a 60x60 canvas (the RAM paper's "translated" and "cluttered" MNIST tasks,
Mnih et al. 2014, made from Fashion-MNIST).

    fashion_mnist_translated60   each 28x28 image pasted at a uniformly random position of a black 60x60 canvas
    fashion_mnist_cluttered60    the same, plus CLUTTER_PIECES 8x8 crops of other images of the split at random
                                 positions (composited by maximum, so the object's own pixels are never darkened)

Loaded by name like the local datasets (``kerazoo.datasets.load("fashion_mnist_translated60", "train[:1000]")``);
generated in memory from the Fashion-MNIST IDX files on first use, the same every time: each split has its own seed,
so a split's canvases never depend on which other splits were made. :func:`translated` also returns where each
object was put.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["CANVAS", "CLUTTER_PIECES", "CLUTTER_SIZE", "NAMES", "translated", "translated_arrays", "canvas_stats"]

CANVAS = 60
CLUTTER_PIECES = 4  # the paper's 60x60 cluttered MNIST: four 8x8 pieces
CLUTTER_SIZE = 8
NAMES = {"fashion_mnist_translated60": 0, "fashion_mnist_cluttered60": CLUTTER_PIECES}
"""Dataset name → clutter pieces per canvas."""
_SEEDS = {"train": 60, "test": 61}


@functools.lru_cache(maxsize=4)
def translated(name: str, split: str, data_dir=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canvases of a base split ("train" or "test") of ``name``: uint8 images [N, 60, 60, 1], int32 labels [N] and
    int32 offsets [N, 2], the (row, column) of the object's top-left pixel on the canvas."""
    from kerazoo.datasets import load_arrays

    if name not in NAMES:
        raise ValueError(f"Unknown translated dataset {name!r}: expected one of {', '.join(NAMES)}.")
    if split not in _SEEDS:
        raise ValueError(f"Invalid split: expected one of {', '.join(_SEEDS)}. Received: split={split!r}")
    objects, labels = load_arrays("fashion_mnist", split, data_dir=data_dir)
    count, side = len(objects), objects.shape[1]
    rng = np.random.default_rng([_SEEDS[split], NAMES[name]])
    offsets = rng.integers(0, CANVAS - side + 1, size=(count, 2)).astype(np.int32)
    canvases = np.zeros((count, CANVAS, CANVAS, 1), dtype=np.uint8)
    pieces = NAMES[name]
    if pieces:
        # Each piece: a random 8x8 crop of a random other image, at a random place on the canvas.
        sources = (np.arange(count)[:, None] + rng.integers(1, count, size=(count, pieces))) % count
        crops = rng.integers(0, side - CLUTTER_SIZE + 1, size=(count, pieces, 2))
        places = rng.integers(0, CANVAS - CLUTTER_SIZE + 1, size=(count, pieces, 2))
        grid = np.arange(CLUTTER_SIZE)
        for k in range(pieces):
            rows = crops[:, k, 0, None, None] + grid[None, :, None]
            cols = crops[:, k, 1, None, None] + grid[None, None, :]
            piece = objects[sources[:, k, None, None], rows, cols]  # [N, 8, 8, 1]
            rows = places[:, k, 0, None, None] + grid[None, :, None]
            cols = places[:, k, 1, None, None] + grid[None, None, :]
            index = np.arange(count)[:, None, None]
            canvases[index, rows, cols] = np.maximum(canvases[index, rows, cols], piece)
    grid = np.arange(side)
    rows = offsets[:, 0, None, None] + grid[None, :, None]
    cols = offsets[:, 1, None, None] + grid[None, None, :]
    index = np.arange(count)[:, None, None]
    canvases[index, rows, cols] = np.maximum(canvases[index, rows, cols], objects)
    return canvases, labels, offsets


def translated_arrays(name: str, split: str, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """``translated`` without the offsets: what ``kerazoo.datasets`` reads as a local dataset's base split."""
    images, labels, _ = translated(name, split, data_dir)
    return images, labels


def canvas_stats(images: np.ndarray, *, chunk: int = 4096) -> tuple[tuple, tuple]:
    """Per-channel mean and std of uint8 images scaled to [0, 1], summed chunk by chunk (a float64 copy of the
    60,000 canvases would take 1.7 GB)."""
    total = np.zeros(images.shape[-1])
    squares = np.zeros(images.shape[-1])
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].astype(np.float64) / 255.0
        total += part.sum(axis=(0, 1, 2))
        squares += np.square(part).sum(axis=(0, 1, 2))
    n = images.shape[0] * images.shape[1] * images.shape[2]
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - np.square(mean), 0.0))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
