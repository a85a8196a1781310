"""Where a segmentation run's mIoU goes on the held-out Fashion-MNIST scenes (issue 10): outlines or class names?

Scores a finished ``unet`` / ``fcn8s`` / ``segnet`` run on its test scenes, then again under what-ifs that tell the
two kinds of error apart, using the scenes' instance masks:

- ``right_names``: every pixel predicted as some item keeps its place but gets the true class: what is left is
  outline error (items missed, background called an item);
- ``one_name_per_item``: each item's visible pixels all take the class most of them were given (the item's "name"),
  so a half-right item becomes all right or all wrong;
- ``flip_average``: logits averaged with those of the mirrored scene (test-time augmentation);
- the item's name right, by how much of the item is visible and by its scale.

    python bench/segmentation_errors.py RUN [--results NAME]    # ~20 s for 1,000 scenes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import write_results  # noqa: E402

VISIBLE_BINS = (0.0, 0.6, 0.8, 0.95, np.inf)  # the fraction is estimated: an item's count can come out a little > 1
SCALE_BINS = (0.0, 0.8, 1.0, 1.2, np.inf)


def mean_iou(predicted: np.ndarray, truth: np.ndarray, classes: int) -> tuple[float, list]:
    """Mean and per-class IoU by ``keras.metrics.MeanIoU``, the metric the segmentation task trains and scores with."""
    import keras

    from kerazoo.vision.tasks import class_iou

    metric = keras.metrics.MeanIoU(classes)
    metric.update_state(truth, predicted)
    iou = np.nan_to_num(class_iou(metric))  # a class seen nowhere: 0 here, as this script always wrote it
    return float(metric.result()), [round(float(v), 4) for v in iou]


def item_names(predicted, scenes, classes: int):
    """Per item: (class + 1 most of its visible pixels were given, visible pixels, true class + 1)."""
    rows = []
    for n in range(len(scenes)):
        for k in range(scenes.num_objects[n]):
            visible = scenes.owners[n] == k
            votes = np.bincount(predicted[n][visible], minlength=classes)
            votes[0] = 0  # the item's name, even where most of it was called background
            rows.append((n, k, int(votes.argmax()), int(visible.sum()), int(scenes.classes[n, k]) + 1))
    return rows


def full_pixel_counts(scenes, rows, data_dir):
    """Each item's pixel count before occlusion and its scale, from its Fashion-MNIST item and its box."""
    from kerazoo.datasets import load_arrays
    from kerazoo.datasets.scenes import ITEM_THRESHOLD

    items, _ = load_arrays("fashion_mnist", "test", data_dir=data_dir)
    counts, scales = [], []
    for n, k, *_ in rows:
        item = items[scenes.item_indices[n, k], ..., 0] >= ITEM_THRESHOLD
        columns = np.flatnonzero(item.any(axis=0))
        scale = (scenes.boxes[n, k, 2] - scenes.boxes[n, k, 0]) / (columns[-1] - columns[0] + 1)
        counts.append(item.sum() * scale ** 2)
        scales.append(scale)
    return np.array(counts), np.array(scales)


def by_bins(values, right, bins) -> dict:
    out = {}
    for low, high in zip(bins[:-1], bins[1:]):
        inside = (values >= low) & (values < high)
        label = f"{low:g}+" if high == np.inf else f"<{high:g}" if low == 0 else f"{low:g}-{high:g}"
        out[label] = {"items": int(inside.sum()), "named_right": round(float(right[inside].mean()), 4)}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a segmentation run on fashion_mnist_scenes")
    parser.add_argument("--results", default="segmentation_errors")
    args = parser.parse_args()

    import keras

    from kerazoo.datasets import FASHION_CLASSES
    from kerazoo.datasets.scenes import DEFAULT_COUNTS, make_scenes
    from kerazoo.training.run import load_run_config, load_run_model

    config = load_run_config(args.run)
    if config.data.dataset != "fashion_mnist_scenes" or config.data.test_split != "test":
        raise ValueError(f"{args.run}: expected a run on fashion_mnist_scenes with test_split 'test'. "
                         f"Received: dataset={config.data.dataset!r}, test_split={config.data.test_split!r}")
    model = load_run_model(args.run)
    scenes = make_scenes("test", DEFAULT_COUNTS["test"], seed=config.seed, data_dir=config.data.data_dir)
    images, truth = scenes.images.astype("float32"), scenes.semantic
    classes = int(model.output.shape[-1])

    def logits(x):
        return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + 100], training=False))
                               for i in range(0, len(x), 100)])

    scores = logits(images)
    predicted = scores.argmax(-1)
    figures = {"run": args.run, "scenes": len(scenes)}
    figures["as_trained"] = mean_iou(predicted, truth, classes)

    right_names = predicted.copy()
    both = (predicted > 0) & (truth > 0)
    right_names[both] = truth[both]
    figures["right_names"] = mean_iou(right_names, truth, classes)

    rows = item_names(predicted, scenes, classes)
    one_name = predicted.copy()
    for n, k, name, *_ in rows:
        one_name[n][scenes.owners[n] == k] = name
    figures["one_name_per_item"] = mean_iou(one_name, truth, classes)

    mirrored = logits(images[:, :, ::-1])[:, :, ::-1]
    figures["flip_average"] = mean_iou((scores + mirrored).argmax(-1), truth, classes)

    right = np.array([name == true for _, _, name, _, true in rows])
    full, scales = full_pixel_counts(scenes, rows, config.data.data_dir)
    visible = np.array([count for *_, count, _ in rows]) / full
    true = np.array([t for *_, t in rows])
    figures["items"] = len(rows)
    figures["named_right"] = round(float(right.mean()), 4)
    figures["named_right_by_class"] = {name: round(float(right[true == c + 1].mean()), 4)
                                       for c, name in enumerate(FASHION_CLASSES)}
    figures["named_right_by_visible_fraction"] = by_bins(visible, right, VISIBLE_BINS)
    figures["named_right_by_scale"] = by_bins(scales, right, SCALE_BINS)
    for key in ("as_trained", "right_names", "one_name_per_item", "flip_average"):
        print(f"{key:>20}: mIoU {figures[key][0]:.4f}  per class {figures[key][1]}")
    print(f"items named right: {figures['named_right']:.1%} of {len(rows)}")
    for key in ("named_right_by_class", "named_right_by_visible_fraction", "named_right_by_scale"):
        print(key, figures[key])
    print(f"wrote {write_results(args.results, figures)}")


if __name__ == "__main__":
    main()
