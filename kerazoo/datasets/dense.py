"""The one schema of annotated images for the dense tasks, whatever file format they came in.

    from kerazoo.datasets import dense
    source = dense.open_source("coco:/data/shapes")       # or voc:DIR, masks:DIR (annotations checked here)
    records = dense.split_records(source, "train[:80%]")  # DenseRecord per image, pixels decoded on demand
    example = dense.read_example(records[0], source)      # {"image", "boxes", "labels", "crowd", "masks", "semantic"}

A :class:`DenseSource` holds the class names and each split's :class:`DenseRecord` list. An example is, at the image's
own size H x W:
    image: uint8 [H, W, 3];
    boxes: float32 [n, 4], Keras ``"xyxy"`` absolute pixels, x2/y2 exclusive (a box encloses pixels x1..x2-1);
    labels: int32 [n], contiguous class ids 0..C-1 (``source.class_names[label]``);
    crowd: bool [n], COCO's ``iscrowd`` (a region of many objects: never a training box; painted in semantic masks);
    masks: bool [n, H, W] instance masks, when the format has them (COCO polygons or RLE);
    semantic: uint8 [H, W], 0 = background, label + 1 = class, when the format has them (COCO's painted from the
        instance masks, VOC's ``SegmentationClass`` PNGs, the masks folder's PNGs); a void value 255 reads as 0.

Malformed annotations are found when the source is opened, before TensorFlow sees anything: a box outside the image
(beyond ``BOX_TOLERANCE`` pixels), an unknown category or class, a missing or unreadable image file are a ValueError
naming the file and the value; degenerate boxes (no area) are counted skips, logged once per source.

The geometry that brings an example to the model's size (``placement``: resize or letterbox) is also here, with its
inverse (``to_original_boxes``), so predictions land on the original image.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DenseRecord", "DenseSource", "FORMATS", "RESIZE_POLICIES", "open_source", "split_records",
           "read_example", "read_image", "read_label_png", "check_image", "placement", "to_original_boxes",
           "check_record_boxes", "pixel_stats", "STATS_IMAGES",
           "is_dense_path", "BOX_TOLERANCE", "VOID"]

log = logging.getLogger(__name__)

FORMATS = ("coco", "voc", "masks")
"""Format prefixes of ``--dataset PREFIX:DIR``."""
RESIZE_POLICIES = ("letterbox", "stretch")
"""``letterbox``: scale to fit keeping the aspect ratio, pad the rest with 0 (centred); ``stretch``: resize each
axis."""
BOX_TOLERANCE = 1.0
"""Pixels a box may stick out of its image (annotation tools round): clipped; further out is an error."""
VOID = 255
"""Mask value of unlabelled pixels (VOC's object borders); read as background."""
STATS_IMAGES = 64
"""Training images (the first, in the split's order) whose pixels give a folder's mean and std (``pixel_stats``)."""


@dataclass(frozen=True)
class DenseRecord:
    """One annotated image: where its pixels are and its objects (the masks are decoded with the pixels).

    Attributes:
        image_path: the image file.
        height, width: its size as the annotation gives it (checked against the decoded image).
        boxes: float32 [n, 4] "xyxy" absolute pixels; labels: int32 [n]; crowd: bool [n].
        segmentations: COCO only: each object's polygons or RLE (decoded by pycocotools), else empty.
        label_path: VOC and masks folders: the PNG of class ids, or None.
    """

    image_path: str
    height: int
    width: int
    boxes: np.ndarray
    labels: np.ndarray
    crowd: np.ndarray
    segmentations: tuple = ()
    label_path: str | None = None


@dataclass(frozen=True)
class DenseSource:
    """An opened dataset: its format, folder, class names and each split's records (split name → list).

    ``has_boxes``/``has_instances``/``has_semantic`` say which targets it can give; ``skipped`` counts the
    annotations left out (reason → count)."""

    name: str
    format: str
    root: str
    class_names: tuple
    splits: dict
    has_boxes: bool
    has_instances: bool
    has_semantic: bool
    skipped: dict = field(default_factory=dict)
    semantic_splits: dict | None = None
    """VOC: the segmentation lists (``ImageSets/Segmentation``), which the segmentation task reads instead."""

    def tasks(self) -> tuple:
        """The dense tasks (``kerazoo.vision.data``) this source has targets for."""
        tasks = ("localization", "detection") if self.has_boxes else ()
        tasks += ("instance",) if self.has_instances else ()
        return tasks + (("segmentation",) if self.has_semantic else ())


def is_dense_path(dataset: str) -> bool:
    """True for ``coco:DIR``, ``voc:DIR`` or ``masks:DIR``."""
    return isinstance(dataset, str) and dataset.split(":", 1)[0] in FORMATS and ":" in dataset


def open_source(dataset: str) -> DenseSource:
    """Reads and checks the annotations of ``PREFIX:DIR`` (cached per folder and the files' modification times)."""
    prefix, _, root = dataset.partition(":")
    if prefix not in FORMATS or not root:
        import difflib

        close = difflib.get_close_matches(prefix, FORMATS, n=1)
        hint = f" Did you mean: {close[0]}:DIR?" if close else ""
        raise ValueError(f"Invalid dataset: expected one of {[f + ':DIR' for f in FORMATS]}. "
                         f"Received: {dataset!r}.{hint}")
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Invalid dataset {dataset!r}: no folder {root}.")
    return _open_cached(prefix, root, _stamp(root))


ANNOTATION_DIRS = ("", "annotations", "Annotations", "ImageSets/Main", "ImageSets/Segmentation", "SegmentationClass",
                   "masks")
"""Folders whose files' modification times key the cache of opened sources (an edited annotation is read again)."""


def _stamp(root: str) -> tuple:
    stamp = []
    for folder in ANNOTATION_DIRS:
        path = os.path.join(root, folder)
        if os.path.isdir(path):
            stamp += [(folder, e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(path)]
    return tuple(sorted(stamp))


_CACHE: dict = {}


def _open_cached(prefix, root, stamp) -> DenseSource:
    key = (prefix, root, stamp)
    if key not in _CACHE:
        if prefix == "coco":
            from kerazoo.datasets.coco import open_coco as opener
        elif prefix == "voc":
            from kerazoo.datasets.voc import open_voc as opener
        else:
            from kerazoo.datasets.masks import open_masks as opener
        source = opener(root)
        if source.skipped:
            log.warning("%s: skipped %s", source.name,
                        ", ".join(f"{count} {reason}" for reason, count in sorted(source.skipped.items())))
        _CACHE[key] = source
    return _CACHE[key]


_SPLIT = re.compile(r"^(?P<base>[A-Za-z_]\w*)(?:\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")
SPLIT_ALIASES = {"validation": "val", "test": "val"}
"""Split names of the tfds convention read as a folder's own (``test`` falls back to ``val`` when there is none)."""


def split_records(source: DenseSource, split: str, task: str | None = None) -> list:
    """The records of ``split``: a split name of the source (``train``, ``val``, ...) or a slice of one such as
    ``train[:80%]`` or ``val[10:]`` (as in tfds); ``task="segmentation"`` reads ``semantic_splits`` where set."""
    splits = source.semantic_splits if task == "segmentation" and source.semantic_splits else source.splits
    match = _SPLIT.match(split.replace(" ", ""))
    if not match:
        raise ValueError(f"Invalid split: expected a split name or a slice such as 'train[:80%]'. "
                         f"Received: split={split!r}")
    base = match["base"]
    if base not in splits:
        base = SPLIT_ALIASES.get(base, base)
    if base not in splits:
        raise ValueError(f"Invalid split {split!r} for {source.name!r}: expected one of {sorted(splits)}.")
    records = splits[base]

    def bound(text):
        if text is None:
            return None
        return int(round(len(records) * int(text[:-1]) / 100)) if text.endswith("%") else int(text)

    return records[bound(match["start"]):bound(match["stop"])]


def read_image(path: str) -> np.ndarray:
    """uint8 [H, W, 3] pixels of an image file (grey and palette images as RGB, alpha dropped)."""
    from kerazoo.io import open_image

    return np.asarray(open_image(path).convert("RGB"), np.uint8)


def check_image(path: str, height: int, width: int) -> None:
    """Reads only the header of an image file: a file that is no image, or whose size is not the annotation's, is a
    ValueError naming it (before any pipeline runs)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            size = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"Invalid image file {path}: {error}") from None
    if size != (width, height):
        raise ValueError(f"Invalid image {path}: the annotation says {width}x{height} pixels, the file has "
                         f"{size[0]}x{size[1]}.")


def read_label_png(path: str) -> np.ndarray:
    """uint8 [H, W] class ids of a label PNG: a palette PNG's indices (VOC), or a grey PNG's values; VOID → 0."""
    from PIL import Image

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Missing mask file: {path}")
    with Image.open(path) as image:
        if image.mode not in ("P", "L", "I", "I;16"):
            image = image.convert("L")  # an RGB mask of grey values
        ids = np.asarray(image)
    if ids.ndim != 2 or ids.max(initial=0) > 255:
        raise ValueError(f"Invalid mask file {path}: expected one class id per pixel (0-255). "
                         f"Received: shape {ids.shape}, max {int(ids.max(initial=0))}")
    ids = ids.astype(np.uint8)
    ids[ids == VOID] = 0
    return ids


_STATS: dict = {}


def pixel_stats(source: DenseSource, *, count: int = STATS_IMAGES) -> tuple:
    """(mean, std) per RGB channel, for pixels scaled to [0, 1], of the first ``count`` images of the ``train``
    split: what the model's first layer normalizes with (as the scenes' own statistics do for them). Fixed constants
    such as ImageNet's put data unlike photos (grey scenes on black) far off zero mean and unit variance; the
    COCO export of the scenes fell behind the scenes loader with them, and matches it with its own (BENCHMARKS.md,
    issue 37). Cached per image set."""
    records = source.splits.get("train") or next(iter(source.splits.values()))
    paths = tuple(r.image_path for r in records[:count])
    key = tuple((p, os.stat(p).st_mtime_ns) for p in paths)
    if key not in _STATS:
        total, squares, pixels = np.zeros(3), np.zeros(3), 0
        for path in paths:
            image = read_image(path).reshape(-1, 3).astype(np.float64) / 255.0
            total += image.sum(0)
            squares += (image ** 2).sum(0)
            pixels += len(image)
        mean = total / max(pixels, 1)
        std = np.sqrt(np.maximum(squares / max(pixels, 1) - mean ** 2, 0.0))
        # a constant channel would divide by zero in the model's first layer
        _STATS[key] = (tuple(float(m) for m in mean), tuple(float(max(s, 1e-3)) for s in std))
    return _STATS[key]


def check_record_boxes(boxes, height: int, width: int, *, where: str):
    """Clips boxes sticking out of the image by up to ``BOX_TOLERANCE``; returns (boxes, keep) where ``keep`` drops
    degenerate ones (no area). A box further out, or with x2 < x1, is a ValueError naming ``where``."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    flipped = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    limit = np.array([width, height, width, height], np.float32)
    outside = ((boxes < -BOX_TOLERANCE) | (boxes > limit + BOX_TOLERANCE)).any(axis=-1)
    for bad, problem in ((flipped, "with x1 <= x2 and y1 <= y2"), (outside, f"inside the {width}x{height} image")):
        if bad.any():
            raise ValueError(f"Invalid box in {where}: expected 'xyxy' boxes {problem}. "
                             f"Received: box={[round(float(v), 2) for v in boxes[bad][0]]}")
    boxes = np.clip(boxes, 0, limit)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes, keep


def read_example(record: DenseRecord, source: DenseSource) -> dict:
    """One record's pixels and targets at the image's own size (see the module docstring for the keys)."""
    image = read_image(record.image_path)
    if image.shape[:2] != (record.height, record.width):
        raise ValueError(f"Invalid image {record.image_path}: the annotation says {record.width}x{record.height} "
                         f"pixels, the file has {image.shape[1]}x{image.shape[0]}.")
    example = {"image": image, "boxes": record.boxes, "labels": record.labels, "crowd": record.crowd}
    if record.segmentations:
        from kerazoo.datasets.coco import decode_masks

        masks = decode_masks(record.segmentations, record.height, record.width)
        example["masks"] = masks
        semantic = np.zeros((record.height, record.width), np.uint8)
        for mask, label in zip(masks, record.labels):  # later objects paint over earlier ones
            semantic[mask] = label + 1
        example["semantic"] = semantic
    elif source.has_instances:
        example["masks"] = np.zeros((len(record.labels), record.height, record.width), bool)
    if record.label_path is not None:
        semantic = read_label_png(record.label_path)
        if semantic.shape != (record.height, record.width):
            raise ValueError(f"Invalid mask {record.label_path}: {semantic.shape[1]}x{semantic.shape[0]} pixels, its "
                             f"image {record.image_path} {record.width}x{record.height}.")
        if semantic.max(initial=0) > len(source.class_names):
            raise ValueError(f"Invalid mask {record.label_path}: class id {int(semantic.max())} outside 1.."
                             f"{len(source.class_names)} ({VOID} = void).")
        example["semantic"] = semantic
    elif source.has_semantic and "semantic" not in example:
        example["semantic"] = np.zeros((record.height, record.width), np.uint8)
    return example


def placement(height: int, width: int, size, policy: str = "letterbox") -> tuple:
    """Where an image of ``height`` x ``width`` goes in the model's ``size`` = (H, W): (new height, new width,
    top, left). ``letterbox`` keeps the aspect ratio and centres the image (padding 0 around it); ``stretch`` fills
    (H, W). A pixel x of the original lands at x * new_width / width + left."""
    if policy not in RESIZE_POLICIES:
        raise ValueError(f"Invalid resize policy: expected one of {RESIZE_POLICIES}. Received: {policy!r}")
    target_h, target_w = size
    if policy == "stretch":
        return target_h, target_w, 0, 0
    scale = min(target_h / height, target_w / width)
    new_h = min(target_h, max(1, math.floor(height * scale + 0.5)))
    new_w = min(target_w, max(1, math.floor(width * scale + 0.5)))
    return new_h, new_w, (target_h - new_h) // 2, (target_w - new_w) // 2


def to_original_boxes(boxes, height: int, width: int, size, policy: str = "letterbox") -> np.ndarray:
    """The inverse of the loader's transform for "xyxy" boxes predicted at the model's ``size``: pixels of the
    original ``height`` x ``width`` image, clipped to it."""
    new_h, new_w, top, left = placement(height, width, size, policy)
    boxes = np.asarray(boxes, np.float32)
    scale = np.array([width / new_w, height / new_h] * 2, np.float32)
    shift = np.array([left, top] * 2, np.float32)
    return np.clip((boxes - shift) * scale, 0, np.array([width, height] * 2, np.float32))
