"""VOC folders (``voc:DIR``): 1-based inclusive boxes become "xyxy", palette PNGs give VOC's class indices (void
read as background), and bad annotations are clear errors."""

import os

import numpy as np
import pytest
from dense_formats import COLORS, VOC_NAMES, write_voc

from kerazoo.datasets import dense
from kerazoo.datasets.voc import VOC_CLASSES


def test_boxes_classes_and_palette_masks(tmp_path):
    drawn = write_voc(str(tmp_path))
    source = dense.open_source(f"voc:{tmp_path}")
    assert source.class_names == VOC_CLASSES and source.tasks() == ("localization", "detection", "segmentation")
    for split, scenes in drawn.items():
        for record, (image, objects) in zip(dense.split_records(source, split, "segmentation"), scenes):
            example = dense.read_example(record, source)
            np.testing.assert_array_equal(example["boxes"], [box for _, box in objects])
            names = [VOC_CLASSES[label] for label in example["labels"]]
            assert names == [VOC_NAMES[label] for label, _ in objects]
            expected = np.zeros(image.shape[:2], np.uint8)  # the void borders read as background
            for label, (x1, y1, x2, y2) in objects:
                expected[y1:y2, x1:x2] = VOC_CLASSES.index(VOC_NAMES[label]) + 1
            np.testing.assert_array_equal(example["semantic"], expected)
            for label, (x1, y1, x2, y2) in objects:  # the JPEG's pixels: each rectangle keeps its colour
                inside = example["image"][y1 + 2:y2 - 2, x1 + 2:x2 - 2].reshape(-1, 3).mean(0)
                np.testing.assert_allclose(inside, COLORS[label], atol=8)


def test_bad_annotations_are_clear_errors(tmp_path):
    write_voc(str(tmp_path), counts=(("train", 2),))
    xml = tmp_path / "Annotations" / "train_000.xml"
    text = xml.read_text()
    xml.write_text(text.replace("<name>cat</name>", "<name>unicorn</name>", 1))
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    with pytest.raises(ValueError, match="unknown class 'unicorn'"):
        dense.open_source(f"voc:{tmp_path}")
    xml.write_text(text.replace("<xmax>", "<xmax>9", 1))  # xmax far outside the image
    with pytest.raises(ValueError, match="Invalid box in Annotations/train_000.xml: expected 'xyxy' boxes inside"):
        dense.open_source(f"voc:{tmp_path}")
    xml.write_text(text)
    os.remove(tmp_path / "JPEGImages" / "train_001.jpg")
    with pytest.raises(FileNotFoundError, match="no JPEGImages/train_001.jpg"):
        dense.open_source(f"voc:{tmp_path}")


def test_the_devkit_folder_is_pointed_at_its_year(tmp_path):
    write_voc(str(tmp_path / "VOC2007"), counts=(("train", 1),))
    with pytest.raises(FileNotFoundError, match=r"Did you mean: voc:.*VOC2007\?"):
        dense.open_source(f"voc:{tmp_path}")
    assert len(dense.open_source(f"voc:{tmp_path / 'VOC2007'}").splits["train"]) == 1
