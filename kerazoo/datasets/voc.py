"""Pascal VOC-format datasets: ``--dataset voc:DIR`` (DIR is a ``VOC2007``-like folder).

    DIR/Annotations/ID.xml              objects: name, bndbox (xmin, ymin, xmax, ymax: 1-based, inclusive)
    DIR/JPEGImages/ID.jpg               (or .png, .jpeg)
    DIR/ImageSets/Main/{train,val,test}.txt          detection splits: one ID a line
    DIR/ImageSets/Segmentation/{train,val}.txt       segmentation splits
    DIR/SegmentationClass/ID.png        palette PNG of class ids (0 = background, 255 = void, read as background)
    DIR/labels.txt                      optional: the class names in order, one a line (index k is PNG value k + 1)

Class names: ``labels.txt`` when present; else VOC's 20 classes when every object's name is one of them (so the
palette PNGs' indices mean what they mean in VOC); else the objects' names sorted. VOC's pixel boxes become
"xyxy" with x1 = xmin - 1, x2 = xmax (0-based, x2 exclusive). A split list missing from ``ImageSets/Main`` (or with
only ``trainval``) falls back to the segmentation lists and the other way round.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree

import numpy as np

from kerazoo.datasets.dense import DenseRecord, DenseSource, check_image, check_record_boxes

__all__ = ["open_voc", "VOC_CLASSES", "voc_palette"]

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def voc_palette(count: int = 256) -> np.ndarray:
    """VOC's colour map: uint8 [count, 3] (the bit-interleaved palette of the devkit's ``VOClabelcolormap``)."""
    palette = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, colour = index, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                colour[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        palette[index] = colour
    return palette


def _read_list(path: str) -> list:
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def _lists(root: str, kind: str) -> dict:
    folder = os.path.join(root, "ImageSets", kind)
    if not os.path.isdir(folder):
        return {}
    return {name[:-4]: _read_list(os.path.join(folder, name)) for name in sorted(os.listdir(folder))
            if name.endswith(".txt") and "_" not in name}  # Main/ also holds per-class lists (cat_train.txt)


def _image_path(root: str, image_id: str) -> str:
    for extension in IMAGE_EXTENSIONS:
        path = os.path.join(root, "JPEGImages", image_id + extension)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"Missing image file for {image_id!r}: no JPEGImages/{image_id}.jpg (or .png, .jpeg) "
                            f"in {root}.")


def _parse(path: str) -> tuple:
    """(height, width, [(name, [x1, y1, x2, y2]), ...]) of an annotation XML."""
    try:
        tree = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"Invalid annotation file {path}: {error}") from None
    size = tree.find("size")
    try:
        height, width = int(size.findtext("height")), int(size.findtext("width"))
        objects = [(obj.findtext("name").strip(), [float(obj.find("bndbox").findtext(k)) for k in
                                                  ("xmin", "ymin", "xmax", "ymax")]) for obj in tree.iter("object")]
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"Invalid annotation file {path}: expected <size> with <width>/<height> and objects with "
                         f"<name> and <bndbox> (xmin, ymin, xmax, ymax).") from None
    if height < 1 or width < 1:
        raise ValueError(f"Invalid annotation file {path}: empty image ({width}x{height}).")
    return height, width, objects


def _class_names(root: str, parsed: dict) -> tuple:
    labels = os.path.join(root, "labels.txt")
    if os.path.isfile(labels):
        with open(labels) as f:
            return tuple(line.strip() for line in f if line.strip() and line.strip() != "background")
    seen = {name for _, _, objects in parsed.values() for name, _ in objects}
    if seen <= set(VOC_CLASSES):
        return VOC_CLASSES
    return tuple(sorted(seen))


def open_voc(root: str) -> DenseSource:
    """Reads and checks every split's annotations (see the module docstring)."""
    main, segmentation = _lists(root, "Main"), _lists(root, "Segmentation")
    if not main and not segmentation:
        inner = sorted(d for d in os.listdir(root) if d.startswith(("VOC", "VOCdevkit")))
        hint = f" Did you mean: voc:{os.path.join(root, inner[0])}?" if inner else ""
        raise FileNotFoundError(f"Invalid dataset voc:{root}: expected split lists in ImageSets/Main/ or "
                                f"ImageSets/Segmentation/ (train.txt, val.txt).{hint}")
    ids = dict.fromkeys(i for lists in (main, segmentation) for names in lists.values() for i in names)
    parsed = {}
    for image_id in ids:
        xml = os.path.join(root, "Annotations", image_id + ".xml")
        if os.path.isfile(xml):
            parsed[image_id] = _parse(xml)
        elif image_id in {i for names in main.values() for i in names}:
            raise FileNotFoundError(f"Missing annotation file {xml}: {image_id!r} is in an ImageSets/Main list.")
    names = _class_names(root, parsed)
    label_of = {name: k for k, name in enumerate(names)}
    records = {image_id: _record(root, image_id, parsed.get(image_id), label_of) for image_id in ids}
    has_semantic = any(r.label_path for r in records.values())
    splits = {split: [records[i] for i in names_] for split, names_ in (main or segmentation).items()}
    semantic_splits = {split: [records[i] for i in names_] for split, names_ in (segmentation or main).items()}
    return DenseSource(name=f"voc:{root}", format="voc", root=root, class_names=names, splits=splits,
                       has_boxes=bool(parsed), has_instances=False, has_semantic=has_semantic,
                       semantic_splits=semantic_splits)


def _record(root: str, image_id: str, parsed, label_of: dict) -> DenseRecord:
    image_path = _image_path(root, image_id)
    label_path = os.path.join(root, "SegmentationClass", image_id + ".png")
    label_path = label_path if os.path.isfile(label_path) else None
    if parsed is None:  # a segmentation-only image: its size from the file's header
        from PIL import Image

        with Image.open(image_path) as image:
            height, width, objects = image.height, image.width, []
    else:
        height, width, objects = parsed
        check_image(image_path, height, width)
    unknown = [name for name, _ in objects if name not in label_of]
    if unknown:
        raise ValueError(f"Invalid annotation for {image_id!r} in {root}: unknown class {unknown[0]!r}; the classes "
                         f"are {list(label_of)[:8]}... (labels.txt).")
    raw = np.asarray([box for _, box in objects], np.float32).reshape(-1, 4) - np.array([1, 1, 0, 0], np.float32)
    boxes, keep = check_record_boxes(raw, height, width, where=f"Annotations/{image_id}.xml")
    labels = np.asarray([label_of[name] for name, _ in objects], np.int32).reshape(-1)
    return DenseRecord(image_path=image_path, height=height, width=width, boxes=boxes[keep], labels=labels[keep],
                       crowd=np.zeros(int(keep.sum()), bool), label_path=label_path)
