"""Folders of images and same-named mask PNGs for semantic segmentation: ``--dataset masks:DIR``.

    DIR/images/NAME.png (or .jpg, .jpeg)   the images, any size
    DIR/masks/NAME.png                     class ids per pixel (grey or palette PNG): 0 = background, k = class k,
                                           255 = void (read as background); the same size as its image
    DIR/train.txt, DIR/val.txt             optional: the split lists, one NAME (or file name) a line
    DIR/classes.txt                        optional: the class names in order, one a line (line k is class k)

Without the lists, a seeded fifth of the images (``SPLIT_SEED``, ``VAL_FRACTION``) is ``val`` and the rest
``train``: the same split on every machine. Without ``classes.txt`` the classes are named ``class_1`` ... up to the
largest id in the masks.
"""

from __future__ import annotations

import os

import numpy as np

from kerazoo.datasets.dense import DenseRecord, DenseSource, read_label_png

__all__ = ["open_masks", "SPLIT_SEED", "VAL_FRACTION"]

SPLIT_SEED = 0
VAL_FRACTION = 0.2
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _stems(root: str) -> dict:
    folder = os.path.join(root, "images")
    if not os.path.isdir(folder) or not os.path.isdir(os.path.join(root, "masks")):
        raise FileNotFoundError(f"Invalid dataset masks:{root}: expected the folders images/ and masks/ in it.")
    stems = {os.path.splitext(name)[0]: os.path.join(folder, name) for name in sorted(os.listdir(folder))
             if name.lower().endswith(IMAGE_EXTENSIONS)}
    if not stems:
        raise ValueError(f"Invalid dataset masks:{root}: no {'/'.join(IMAGE_EXTENSIONS)} images in {folder}.")
    return stems


def _splits(root: str, stems: list) -> dict:
    lists = {split: os.path.join(root, f"{split}.txt") for split in ("train", "val", "test")}
    if os.path.isfile(lists["train"]):
        splits = {}
        for split, path in lists.items():
            if os.path.isfile(path):
                with open(path) as f:
                    splits[split] = [os.path.splitext(line.strip())[0] for line in f if line.strip()]
        return splits
    order = np.random.default_rng(SPLIT_SEED).permutation(len(stems))
    cut = len(stems) - max(1, int(round(VAL_FRACTION * len(stems)))) if len(stems) > 1 else 1
    return {"train": [stems[i] for i in sorted(order[:cut])], "val": [stems[i] for i in sorted(order[cut:])]}


def open_masks(root: str) -> DenseSource:
    """Pairs every listed image with its mask and checks both (see the module docstring)."""
    from PIL import Image

    images = _stems(root)
    splits = _splits(root, list(images))
    records, largest = {}, 0
    for stem in dict.fromkeys(s for names in splits.values() for s in names):
        if stem not in images:
            raise FileNotFoundError(f"Missing image file for {stem!r} (listed in a split file): no images/{stem}"
                                    f"{{{','.join(IMAGE_EXTENSIONS)}}} in {root}.")
        mask_path = os.path.join(root, "masks", stem + ".png")
        mask = read_label_png(mask_path)
        with Image.open(images[stem]) as image:
            width, height = image.size
        if mask.shape != (height, width):
            raise ValueError(f"Invalid mask {mask_path}: {mask.shape[1]}x{mask.shape[0]} pixels, its image "
                             f"{width}x{height}.")
        largest = max(largest, int(mask.max()))
        records[stem] = DenseRecord(image_path=images[stem], height=height, width=width,
                                    boxes=np.zeros((0, 4), np.float32), labels=np.zeros((0,), np.int32),
                                    crowd=np.zeros((0,), bool), label_path=mask_path)
    names = _class_names(root, largest)
    return DenseSource(name=f"masks:{root}", format="masks", root=root, class_names=names,
                       splits={split: [records[s] for s in stems] for split, stems in splits.items()},
                       has_boxes=False, has_instances=False, has_semantic=True)


def _class_names(root: str, largest: int) -> tuple:
    path = os.path.join(root, "classes.txt")
    if not os.path.isfile(path):
        return tuple(f"class_{k}" for k in range(1, max(largest, 1) + 1))
    with open(path) as f:
        names = tuple(line.strip() for line in f if line.strip())
    if names and names[0] == "background":
        names = names[1:]
    if len(names) < largest:
        raise ValueError(f"Invalid classes.txt in {root}: {len(names)} class names, and the masks hold class id "
                         f"{largest}.")
    return names
