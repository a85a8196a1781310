"""COCO detection metrics with pycocotools (Lin et al., 2014, "Microsoft COCO"), on in-memory predictions.

    figures = coco_evaluate(predictions, ground_truth, num_classes=10)
    figures["mAP"], figures["mAP50"]      # AP averaged over IoU 0.5:0.95, and at IoU 0.5
    figures["agnostic_mAP50"]             # the same with classes ignored: finding objects, not naming them
    figures["class_AP50"]                 # AP@.5 of each class: which names cost the most

Both lists hold one dict per image: ``boxes`` [k, 4] "xyxy" pixels, ``classes`` [k] (0-based), and for predictions
``scores`` [k]; with ``masks`` [k, H, W] (bool) in both, mask AP is computed too (``mask_mAP``, ``mask_mAP50``).
The ground truth may mark ``crowd`` [k] (bool) regions: COCO's ``iscrowd``, where detections are neither hits nor
false positives.
Ground-truth padding (class < 0) is dropped. pycocotools' own printout is kept out of the output.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

__all__ = ["coco_evaluate", "STAT_NAMES"]

STAT_NAMES = ("mAP", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large")
"""The first six of COCOeval's ``stats``: AP at IoU 0.5:0.95, 0.5, 0.75, and by object area."""


def _xywh(boxes) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=-1)


def _rle(mask):
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _coco_records(ground_truth, predictions, with_masks: bool):
    images, annotations, results = [], [], []
    for image_id, (truth, pred) in enumerate(zip(ground_truth, predictions), start=1):
        image = {"id": image_id}
        if with_masks:
            image["height"], image["width"] = np.asarray(truth["masks"]).shape[-2:]
        images.append(image)
        classes = np.asarray(truth["classes"]).reshape(-1)
        keep = classes >= 0
        crowd = np.asarray(truth.get("crowd", np.zeros(len(classes), bool)), bool).reshape(-1)[keep]
        for k, (box, label) in enumerate(zip(_xywh(truth["boxes"])[keep], classes[keep])):
            record = {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label) + 1,
                      "bbox": box.tolist(), "area": float(box[2] * box[3]), "iscrowd": int(crowd[k])}
            if with_masks:
                mask = np.asarray(truth["masks"])[keep][k]
                record["segmentation"], record["area"] = _rle(mask), float(np.sum(mask))
            annotations.append(record)
        for k, (box, label, score) in enumerate(zip(_xywh(pred["boxes"]), np.asarray(pred["classes"]).reshape(-1),
                                                    np.asarray(pred["scores"]).reshape(-1))):
            record = {"image_id": image_id, "category_id": int(label) + 1, "bbox": box.tolist(),
                      "score": float(score)}
            if with_masks:
                record["segmentation"] = _rle(np.asarray(pred["masks"])[k])
            results.append(record)
    return images, annotations, results


def _evaluate(ground, results, iou_type: str, use_cats: bool = True) -> tuple[list[float], list[float]]:
    """The first six ``stats`` and each category's AP at IoU 0.5 (-1 for a category without ground truth)."""
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        detections = ground.loadRes(results)
        evaluator = COCOeval(ground, detections, iou_type)
        evaluator.params.useCats = int(use_cats)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # COCOeval reports -1 where no ground truth exists (e.g. no small objects); keep those as -1
    precision = evaluator.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, every recall level, category, all areas, 100
    per_class = [float(p[p > -1].mean()) if (p > -1).any() else -1.0 for p in precision.T]
    return [float(v) for v in evaluator.stats[: len(STAT_NAMES)]], per_class


def coco_evaluate(predictions, ground_truth, *, num_classes: int, masks: bool = False, class_names=None) -> dict:
    """COCO box AP (and mask AP with ``masks``) of per-image predictions against the ground truth.

    Returns:
        {"mAP", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large", "images", "detections"}; with ``masks``
        also the same figures prefixed ``mask_``; ``agnostic_mAP`` and ``agnostic_mAP50``: box AP with the classes
        ignored (pycocotools ``useCats=0``), so the gap to mAP is what wrong class labels cost; ``class_AP50``: box
        AP@.5 of each class by name (``class_names``, default the class ids), -1 for a class with no ground truth
        (mAP50 is their mean over the others). No detections at all gives AP 0.
    """
    from pycocotools.coco import COCO

    if len(predictions) != len(ground_truth):
        raise ValueError(f"Invalid predictions: expected one entry per ground-truth image ({len(ground_truth)}). "
                         f"Received: {len(predictions)} entries")
    images, annotations, results = _coco_records(ground_truth, predictions, masks)
    figures = {"images": len(images), "detections": len(results)}
    ground = COCO()
    ground.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        ground.createIndex()
    names = [str(c) for c in range(num_classes)] if class_names is None else list(class_names)
    no_detections = ([0.0] * len(STAT_NAMES), [0.0] * num_classes)
    for iou_type, prefix in [("bbox", "")] + ([("segm", "mask_")] if masks else []):
        stats, per_class = _evaluate(ground, results, iou_type) if results else no_detections
        figures.update({prefix + name: value for name, value in zip(STAT_NAMES, stats)})
        if iou_type == "bbox":
            figures["class_AP50"] = {name: round(ap, 4) for name, ap in zip(names, per_class)}
    agnostic = _evaluate(ground, results, "bbox", use_cats=False)[0] if results else no_detections[0]
    figures.update(agnostic_mAP=agnostic[0], agnostic_mAP50=agnostic[1])
    return figures
