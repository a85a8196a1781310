"""COCO-format detection and instance-segmentation datasets: ``--dataset coco:DIR``.

    DIR/annotations/instances_train.json     (or instances_train2017.json ...: one file per split)
    DIR/annotations/instances_val.json
    DIR/train/... DIR/val/... (or DIR/train2017/, DIR/images/, DIR/ itself): the images the JSON files name

Each JSON has COCO's ``images`` (id, file_name, width, height), ``annotations`` (image_id, category_id,
bbox [x, y, w, h], iscrowd, segmentation as polygons or RLE) and ``categories`` (id, name). COCO's sparse category
ids (1..90 with gaps) become contiguous labels 0..C-1 in id order, keeping the names; every split must use the
train file's categories. Instance masks are decoded from the polygons and RLE by pycocotools.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from kerazoo.datasets.dense import DenseRecord, DenseSource, check_image, check_record_boxes
from kerazoo.io import atomic_write_text

__all__ = ["open_coco", "decode_masks", "write_coco", "SPLIT_FILE"]

SPLIT_FILE = "instances_{split}*.json"
"""Annotation files under ``DIR/annotations``: ``instances_train2017.json`` is the ``train`` split."""


def _split_files(root: str) -> dict:
    files = {}
    for path in sorted(glob.glob(os.path.join(root, "annotations", SPLIT_FILE.format(split="")))):
        stem = os.path.basename(path)[len("instances_"):-len(".json")]
        split = stem.rstrip("0123456789") or stem  # train2017 → train
        files.setdefault(split, (path, stem))
    if "train" not in files:
        raise FileNotFoundError(f"Invalid dataset coco:{root}: expected {root}/annotations/instances_train.json "
                                f"(and instances_val.json). Found: {sorted(files) or 'none'}")
    return files


def _image_dirs(root: str, stem: str, split: str) -> list:
    return [os.path.join(root, name) for name in dict.fromkeys((stem, split, "images", ""))]


def _categories(data: dict, path: str):
    categories = sorted(data.get("categories") or [], key=lambda c: c["id"])
    if not categories:
        raise ValueError(f"Invalid COCO file {path}: no categories.")
    return {c["id"]: k for k, c in enumerate(categories)}, tuple(str(c["name"]) for c in categories)


def open_coco(root: str) -> DenseSource:
    """Reads and checks every split's annotations (see the module docstring)."""
    files = _split_files(root)
    with open(files["train"][0]) as f:
        train = json.load(f)
    label_of, names = _categories(train, files["train"][0])
    splits, skipped = {}, {}
    for split, (path, stem) in files.items():
        if split == "train":
            data = train
        else:
            with open(path) as f:
                data = json.load(f)
        splits[split] = _records(data, path, label_of, names, _image_dirs(root, stem, split), skipped)
    return DenseSource(name=f"coco:{root}", format="coco", root=root, class_names=names, splits=splits,
                       has_boxes=True, has_instances=True, has_semantic=True, skipped=skipped)


def _find_image(dirs, file_name):
    for folder in dirs:
        candidate = os.path.join(folder, file_name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _records(data: dict, path: str, label_of: dict, names: tuple, dirs: list, skipped: dict) -> list:
    images = {}
    missing = []
    for image in data.get("images") or []:
        width, height = int(image.get("width", 0)), int(image.get("height", 0))
        if width < 1 or height < 1:
            raise ValueError(f"Invalid image in {path}: expected width and height >= 1. Received: {image}")
        found = _find_image(dirs, image["file_name"])
        if found is None:
            missing.append(image["file_name"])
        else:
            check_image(found, height, width)
        images[image["id"]] = (found, height, width, [])
    if missing:
        raise FileNotFoundError(f"Missing image files in {path}: {len(missing)} named there are in none of "
                                f"{dirs}, e.g. {missing[0]!r}.")
    for annotation in data.get("annotations") or []:
        where = f"{path} (annotation {annotation.get('id')})"
        if annotation.get("image_id") not in images:
            raise ValueError(f"Invalid annotation in {where}: unknown image_id {annotation.get('image_id')!r}.")
        category = annotation.get("category_id")
        if category not in label_of:
            raise ValueError(f"Invalid annotation in {where}: unknown category_id {category!r}; the categories "
                             f"are {sorted(label_of)} ({', '.join(names[:5])}...).")
        images[annotation["image_id"]][3].append(annotation)
    records = []
    for image_id, (file, height, width, annotations) in images.items():
        x, y, w, h = np.asarray([a["bbox"] for a in annotations], np.float32).reshape(-1, 4).T
        boxes, keep = check_record_boxes(np.stack([x, y, x + w, y + h], axis=-1), height, width,
                                         where=f"{path} (image {image_id}, {os.path.basename(file)})")
        if not keep.all():
            skipped["boxes without area"] = skipped.get("boxes without area", 0) + int((~keep).sum())
        kept = [a for a, k in zip(annotations, keep) if k]
        records.append(DenseRecord(
            image_path=file, height=height, width=width, boxes=boxes[keep],
            labels=np.asarray([label_of[a["category_id"]] for a in kept], np.int32).reshape(-1),
            crowd=np.asarray([bool(a.get("iscrowd", 0)) for a in kept], bool).reshape(-1),
            segmentations=tuple(_segmentation(a, boxes[keep][k]) for k, a in enumerate(kept))))
    return records


def _segmentation(annotation: dict, box):
    """The annotation's polygons or RLE; its box as a polygon when it has none (a box is all a detector knows)."""
    segmentation = annotation.get("segmentation")
    if segmentation:
        return segmentation
    x1, y1, x2, y2 = (float(v) for v in box)
    return [[x1, y1, x2, y1, x2, y2, x1, y2]]


def decode_masks(segmentations, height: int, width: int) -> np.ndarray:
    """bool [n, height, width] instance masks from COCO polygons, uncompressed or compressed RLE (pycocotools)."""
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise ImportError("COCO masks are decoded by pycocotools: pip install 'kerazoo[vision]'.") from None

    masks = np.zeros((len(segmentations), height, width), bool)
    for k, segmentation in enumerate(segmentations):
        if isinstance(segmentation, list):  # polygons [[x1, y1, x2, y2, ...], ...]
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = dict(segmentation)
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
        masks[k] = mask_utils.decode(rle).astype(bool)
    return masks


def write_coco(root: str, split: str, examples, class_names) -> str:
    """Writes ``examples`` (dicts of the dense schema: ``image`` uint8 [H, W, C], ``boxes`` "xyxy", ``labels``, and
    optionally ``masks`` bool [n, H, W], as compressed RLE) as the COCO split ``split`` of ``root``: the images as
    ``root/split/NNNNNN.png`` and ``root/annotations/instances_{split}.json`` (written under a temporary name, then
    renamed). Category ids are 1..C in the order of ``class_names``. Returns the JSON's path."""
    from PIL import Image
    from pycocotools import mask as mask_utils

    folder = os.path.join(root, split)
    os.makedirs(folder, exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    images, annotations = [], []
    for number, example in enumerate(examples, start=1):
        pixels = np.asarray(example["image"], np.uint8)
        pixels = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels
        name = f"{number:06d}.png"
        Image.fromarray(pixels).save(os.path.join(folder, name))
        height, width = pixels.shape[:2]
        images.append({"id": number, "file_name": name, "height": int(height), "width": int(width)})
        masks = example.get("masks")
        for k, (box, label) in enumerate(zip(np.asarray(example["boxes"], np.float64).reshape(-1, 4),
                                             np.asarray(example["labels"]).reshape(-1))):
            x1, y1, x2, y2 = (float(v) for v in box)
            record = {"id": len(annotations) + 1, "image_id": number, "category_id": int(label) + 1, "iscrowd": 0,
                      "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)}
            if masks is not None:
                rle = mask_utils.encode(np.asfortranarray(np.asarray(masks[k], np.uint8)))
                record["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
                record["area"] = float(np.asarray(masks[k]).sum())
            annotations.append(record)
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": k + 1, "name": str(name)} for k, name in enumerate(class_names)]}
    path = os.path.join(root, "annotations", f"instances_{split}.json")
    atomic_write_text(path, json.dumps(data))
    return path
