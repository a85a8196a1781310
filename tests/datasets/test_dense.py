"""The dense schema's geometry (letterbox/stretch and its inverse), split slicing and box checks."""

import numpy as np
import pytest

from kerazoo.datasets import dense


def test_placement_and_its_inverse():
    assert dense.placement(60, 100, (48, 64)) == (38, 64, 5, 0)  # wide: fit the width, pad above and below
    assert dense.placement(100, 50, (48, 64)) == (48, 24, 0, 20)  # tall: fit the height, pad left and right
    assert dense.placement(100, 50, (48, 64), "stretch") == (48, 64, 0, 0)
    boxes = np.array([[10, 20, 50, 60], [0, 0, 100, 60]], np.float32)
    for policy in dense.RESIZE_POLICIES:
        new_h, new_w, top, left = dense.placement(60, 100, (48, 64), policy)
        placed = boxes * np.array([new_w / 100, new_h / 60] * 2) + np.array([left, top] * 2)
        np.testing.assert_allclose(dense.to_original_boxes(placed, 60, 100, (48, 64), policy), boxes, atol=1e-4)
    with pytest.raises(ValueError, match=r"Invalid resize policy: expected one of \('letterbox', 'stretch'\)"):
        dense.placement(60, 100, (48, 64), "crop")


def test_box_checks_clip_a_pixel_and_reject_more():
    boxes, keep = dense.check_record_boxes([[-0.5, 0, 10, 10.8], [3, 3, 3, 8]], 10, 20, where="x.json")
    np.testing.assert_allclose(boxes[0], [0, 0, 10, 10])
    np.testing.assert_array_equal(keep, [True, False])
    with pytest.raises(ValueError, match=r"Invalid box in x.json: .* inside the 20x10 image. Received: box=\[0.0, "
                                         r"0.0, 22.0, 5.0\]"):
        dense.check_record_boxes([[0, 0, 22, 5]], 10, 20, where="x.json")
    with pytest.raises(ValueError, match="with x1 <= x2 and y1 <= y2"):
        dense.check_record_boxes([[5, 0, 2, 5]], 10, 20, where="x.json")


def test_split_records_slices_and_errors():
    source = dense.DenseSource(name="masks:/d", format="masks", root="/d", class_names=("a",),
                               splits={"train": list(range(10)), "val": [10, 11]}, has_boxes=False,
                               has_instances=False, has_semantic=True)
    assert dense.split_records(source, "train[:30%]") == [0, 1, 2]
    assert dense.split_records(source, "train[-2:]") == [8, 9]
    assert dense.split_records(source, "validation") == [10, 11] == dense.split_records(source, "test")
    with pytest.raises(ValueError, match=r"Invalid split 'tset' for 'masks:/d': expected one of \['train', 'val'\]"):
        dense.split_records(source, "tset")
    assert dense.is_dense_path("coco:/x") and not dense.is_dense_path("voc/2007")
