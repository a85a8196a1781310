"""COCO folders (``coco:DIR``): sparse category ids become contiguous labels, polygons, compressed and uncompressed
RLE decode to the drawn masks, crowds are flagged, and malformed annotations are clear errors or counted skips."""

import json
import os

import numpy as np
import pytest
from dense_formats import COCO_CATEGORIES, write_coco

from kerazoo.datasets import dense


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("coco"))
    return root, write_coco(root)


def _mask(shape, box):
    mask = np.zeros(shape, bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    return mask


def test_categories_boxes_masks_and_crowds(coco):
    root, drawn = coco
    source = dense.open_source(f"coco:{root}")
    assert source.class_names == ("red", "green") and sorted(source.splits) == ["train", "val"]
    assert source.tasks() == ("localization", "detection", "instance", "segmentation")
    for split, scenes in drawn.items():
        for record, (image, objects) in zip(source.splits[split], scenes):
            example = dense.read_example(record, source)
            np.testing.assert_array_equal(example["image"], image)
            count = len(objects)
            np.testing.assert_array_equal(example["labels"][:count], [label for label, _ in objects])
            np.testing.assert_array_equal(example["boxes"][:count], [box for _, box in objects])
            for mask, (_, box) in zip(example["masks"], objects):  # polygons (red) and RLE (green), to the pixel
                np.testing.assert_array_equal(mask, _mask(image.shape[:2], box))
            semantic = np.zeros(image.shape[:2], np.uint8)
            for label, box in objects:
                semantic[_mask(image.shape[:2], box)] = label + 1
            crowd = example["crowd"]
            if record is source.splits[split][0]:  # the crowd region (uncompressed RLE), painted as class "red"
                assert crowd.tolist() == [False] * count + [True] and example["masks"][-1].sum() == 36
                semantic[:6, :6] = 1
            else:
                assert not crowd.any()
            np.testing.assert_array_equal(example["semantic"], semantic)


def _rewrite(root, change):
    path = os.path.join(root, "annotations", "instances_train.json")
    with open(path) as f:
        data = json.load(f)
    change(data)
    with open(path, "w") as f:
        json.dump(data, f)


def test_malformed_annotations_are_clear_errors(tmp_path):
    root = str(tmp_path)
    write_coco(root, counts=(("train", 2),))

    def unknown_category(data):
        data["annotations"][0]["category_id"] = 5

    _rewrite(root, unknown_category)
    with pytest.raises(ValueError, match=r"unknown category_id 5; the categories are \[3, 7\]"):
        dense.open_source(f"coco:{root}")

    def outside(data):
        data["annotations"][0]["category_id"] = 3
        data["annotations"][0]["bbox"] = [70, 10, 30, 10]  # x2 = 100 in an 80-wide image

    _rewrite(root, outside)
    with pytest.raises(ValueError, match=r"inside the 80x60 image. Received: box=\[70.0, 10.0, 100.0, 20.0\]"):
        dense.open_source(f"coco:{root}")

    def missing_image(data):
        data["annotations"][0]["bbox"] = [0, 0, 10, 10]
        data["images"][1]["file_name"] = "gone.png"

    _rewrite(root, missing_image)
    with pytest.raises(FileNotFoundError, match="1 named there are in none of .* e.g. 'gone.png'"):
        dense.open_source(f"coco:{root}")

    def wrong_size(data):
        data["images"][1]["file_name"], data["images"][1]["height"] = "001.png", 44

    _rewrite(root, wrong_size)
    with pytest.raises(ValueError, match=r"001.png: the annotation says 90x44 pixels, the file has 90x45"):
        dense.open_source(f"coco:{root}")

    def empty_image(data):
        data["images"][1]["file_name"], data["images"][1]["width"] = "001.png", 0

    _rewrite(root, empty_image)
    with pytest.raises(ValueError, match="expected width and height >= 1"):
        dense.open_source(f"coco:{root}")


def test_degenerate_boxes_are_counted_skips_and_missing_files_are_named(tmp_path, caplog):
    root = str(tmp_path)
    write_coco(root, counts=(("train", 2),))

    def flat(data):
        data["annotations"][0]["bbox"] = [5, 5, 0, 8]

    _rewrite(root, flat)
    with caplog.at_level("WARNING"):
        source = dense.open_source(f"coco:{root}")
    assert source.skipped == {"boxes without area": 1} and "skipped 1 boxes without area" in caplog.text
    assert len(source.splits["train"][0].labels) == 1 + 1  # the other object and the crowd

    def mended(data):
        data["annotations"][0]["bbox"] = [5, 5, 4, 8]

    _rewrite(root, mended)  # an edited annotation file is read again, not taken from the cache
    assert not dense.open_source(f"coco:{root}").skipped
    with pytest.raises(FileNotFoundError, match="annotations/instances_train.json"):
        dense.open_source(f"coco:{tmp_path / 'train'}")
    with pytest.raises(ValueError, match="Did you mean: coco:DIR"):
        dense.open_source(f"cocoo:{root}")
    assert [c["id"] for c in COCO_CATEGORIES] == [3, 7]


def test_write_coco_round_trips_through_the_loader(tmp_path):
    from dense_formats import draw_scene

    from kerazoo.datasets.coco import write_coco as export

    rng = np.random.default_rng(5)
    examples = []
    for height, width in ((30, 50), (44, 36)):
        image, objects = draw_scene(rng, height, width)
        examples.append({"image": image, "boxes": np.array([b for _, b in objects], np.float32),
                         "labels": np.array([label for label, _ in objects]),
                         "masks": np.stack([_mask(image.shape[:2], b) for _, b in objects])})
    export(str(tmp_path), "train", examples, ("red", "green"))
    source = dense.open_source(f"coco:{tmp_path}")
    assert source.class_names == ("red", "green") and not list(tmp_path.glob("annotations/*.tmp*"))
    for record, example in zip(source.splits["train"], examples):
        loaded = dense.read_example(record, source)
        np.testing.assert_array_equal(loaded["image"], example["image"])
        np.testing.assert_array_equal(loaded["boxes"], example["boxes"])
        np.testing.assert_array_equal(loaded["labels"], example["labels"])
        np.testing.assert_array_equal(loaded["masks"], example["masks"])
