"""Small real-format dense datasets written by the tests: a COCO folder (polygons, RLE, a crowd region, sparse
category ids), a VOC folder (XML, JPEGs, palette PNGs with void borders) and an image/mask folder.

Every image has its own non-square size and 1-2 solid rectangles on a dark noisy background, one colour per class,
so boxes and masks are known exactly (and are learnable in a few steps)."""

import json
import os

import numpy as np

SIZES = [(60, 80), (45, 90), (72, 54), (50, 70), (64, 64), (40, 100)]
"""(height, width) of the images, cycled."""
COLORS = [(230, 60, 60), (60, 220, 60)]
COCO_CATEGORIES = [{"id": 3, "name": "red"}, {"id": 7, "name": "green"}]
"""Sparse COCO ids: label 0 = id 3 (red), label 1 = id 7 (green)."""
VOC_NAMES = ("cat", "dog")
"""Objects of the VOC folder: VOC class names, so the palette PNGs hold VOC's indices (cat 8, dog 12)."""


def draw_scene(rng, height, width, objects=2):
    """(uint8 image [H, W, 3], [(label, (x1, y1, x2, y2))...]): non-overlapping rectangles ("xyxy", x2 exclusive)
    of label 0 in the left half and label 1 in the right half."""
    image = rng.integers(0, 30, size=(height, width, 3)).astype(np.uint8)
    placed = []
    for label in range(objects):
        box_w, box_h = int(rng.integers(10, width // 2)), int(rng.integers(10, height // 2))
        x1 = int(rng.integers(0, width // 2 - box_w + 1)) + (width // 2 if label else 0)
        y1 = int(rng.integers(0, height - box_h + 1))
        image[y1:y1 + box_h, x1:x1 + box_w] = COLORS[label]
        placed.append((label, (x1, y1, x1 + box_w, y1 + box_h)))
    return image, placed


def _save(path, pixels, **kwargs):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path, **kwargs)


def _mask(height, width, box):
    mask = np.zeros((height, width), np.uint8)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = 1
    return mask


def write_coco(root, counts=(("train", 6), ("val", 3)), seed=0):
    """A COCO folder: annotations/instances_{split}.json and {split}/NNN.png; red objects as polygons, green ones as
    compressed RLE, and a crowd region (uncompressed RLE, ``iscrowd`` 1) on the first image of each split.
    Returns {split: [(image, objects)]} of what was drawn."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    drawn, index = {}, 0
    for split, count in counts:
        images, annotations = [], []
        drawn[split] = []
        for n in range(count):
            height, width = SIZES[index % len(SIZES)]
            index += 1
            image, objects = draw_scene(rng, height, width)
            name = f"{n:03d}.png"
            _save(os.path.join(root, split, name), image)
            images.append({"id": n + 1, "file_name": name, "height": height, "width": width})
            for label, (x1, y1, x2, y2) in objects:
                if label == 0:  # a polygon along the pixel edges encloses exactly the rectangle's pixels
                    segmentation = [[x1, y1, x2, y1, x2, y2, x1, y2]]
                else:
                    segmentation = mask_utils.encode(np.asfortranarray(_mask(height, width, (x1, y1, x2, y2))))
                    segmentation["counts"] = segmentation["counts"].decode("ascii")
                annotations.append({"id": len(annotations) + 1, "image_id": n + 1,
                                    "category_id": COCO_CATEGORIES[label]["id"], "iscrowd": 0,
                                    "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                    "segmentation": segmentation})
            if n == 0:  # a crowd of red things in the top-left corner: uncompressed RLE, as COCO stores crowds
                crowd = _mask(height, width, (0, 0, 6, 6))
                runs = _uncompressed(crowd)
                annotations.append({"id": len(annotations) + 1, "image_id": n + 1, "category_id": 3, "iscrowd": 1,
                                    "bbox": [0, 0, 6, 6], "area": 36, "segmentation": {"counts": runs,
                                                                                        "size": [height, width]}})
            drawn[split].append((image, objects))
        data = {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}
        os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
        with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump(data, f)
    return drawn


def _uncompressed(mask):
    """COCO's uncompressed RLE counts: run lengths of the column-major pixels, starting with a run of zeros."""
    flat = np.asarray(mask, np.uint8).flatten(order="F")
    runs, current, length = [], 0, 0
    for value in flat:
        if value == current:
            length += 1
        else:
            runs.append(length)
            current, length = value, 1
    runs.append(length)
    return runs


def write_voc(root, counts=(("train", 6), ("val", 3)), seed=1):
    """A VOC folder: JPEGImages/*.jpg, Annotations/*.xml (1-based inclusive boxes), ImageSets/Main and
    Segmentation lists, SegmentationClass/*.png palette PNGs (VOC indices, a void border of 255 around objects)."""
    from PIL import Image

    from kerazoo.datasets.voc import VOC_CLASSES, voc_palette

    rng = np.random.default_rng(seed)
    palette = voc_palette().flatten().tolist()
    drawn, index = {}, 0
    for split, count in counts:
        ids = []
        drawn[split] = []
        for n in range(count):
            height, width = SIZES[index % len(SIZES)]
            index += 1
            image, objects = draw_scene(rng, height, width)
            image_id = f"{split}_{n:03d}"
            ids.append(image_id)
            _save(os.path.join(root, "JPEGImages", image_id + ".jpg"), image, quality=95)
            xml = [f"<annotation><filename>{image_id}.jpg</filename><size><width>{width}</width>"
                   f"<height>{height}</height><depth>3</depth></size>"]
            classes = np.zeros((height, width), np.uint8)
            for label, (x1, y1, x2, y2) in objects:
                xml.append(f"<object><name>{VOC_NAMES[label]}</name><difficult>0</difficult><bndbox>"
                           f"<xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
                           f"</bndbox></object>")
                classes[max(0, y1 - 1):y2 + 1, max(0, x1 - 1):x2 + 1] = 255  # VOC's void border
            for label, (x1, y1, x2, y2) in objects:  # over every border: objects may touch
                classes[y1:y2, x1:x2] = VOC_CLASSES.index(VOC_NAMES[label]) + 1
            os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
            with open(os.path.join(root, "Annotations", image_id + ".xml"), "w") as f:
                f.write("".join(xml) + "</annotation>")
            png = Image.fromarray(classes, mode="P")
            png.putpalette(palette)
            os.makedirs(os.path.join(root, "SegmentationClass"), exist_ok=True)
            png.save(os.path.join(root, "SegmentationClass", image_id + ".png"))
            drawn[split].append((image, objects))
        for kind in ("Main", "Segmentation"):
            os.makedirs(os.path.join(root, "ImageSets", kind), exist_ok=True)
            with open(os.path.join(root, "ImageSets", kind, f"{split}.txt"), "w") as f:
                f.write("\n".join(ids) + "\n")
    return drawn


def write_masks(root, count=8, seed=2, classes=("red", "green")):
    """An image/mask folder: images/NNN.png, masks/NNN.png (grey class ids), classes.txt; no split lists."""
    rng = np.random.default_rng(seed)
    drawn = []
    for n in range(count):
        height, width = SIZES[n % len(SIZES)]
        image, objects = draw_scene(rng, height, width)
        mask = np.zeros((height, width), np.uint8)
        for label, (x1, y1, x2, y2) in objects:
            mask[y1:y2, x1:x2] = label + 1
        _save(os.path.join(root, "images", f"{n:03d}.png"), image)
        _save(os.path.join(root, "masks", f"{n:03d}.png"), mask)
        drawn.append((image, objects))
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("\n".join(classes) + "\n")
    return drawn
