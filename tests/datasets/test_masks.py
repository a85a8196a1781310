"""Image/mask folders (``masks:DIR``): a seeded split without lists, class names, and clear errors."""

import numpy as np
import pytest
from dense_formats import write_masks

from kerazoo.datasets import dense


def test_seeded_split_classes_and_masks(tmp_path):
    drawn = write_masks(str(tmp_path), count=8)
    source = dense.open_source(f"masks:{tmp_path}")
    assert source.class_names == ("red", "green") and source.tasks() == ("segmentation",)
    train, val = source.splits["train"], source.splits["val"]
    assert (len(train), len(val)) == (6, 2) and not {r.image_path for r in train} & {r.image_path for r in val}
    assert dense.split_records(source, "test") == val  # no test split: the validation images
    for record in train + val:
        n = int(record.image_path[-7:-4])
        image, objects = drawn[n]
        example = dense.read_example(record, source)
        np.testing.assert_array_equal(example["image"], image)
        for label, (x1, y1, x2, y2) in objects:
            assert (example["semantic"][y1:y2, x1:x2] == label + 1).all()
    (tmp_path / "train.txt").write_text("000\n001\n002\n")
    (tmp_path / "val.txt").write_text("003.png\n")
    listed = dense.open_source(f"masks:{tmp_path}")
    assert [len(listed.splits[s]) for s in ("train", "val")] == [3, 1]
    assert len(dense.split_records(listed, "train[:67%]")) == 2


def test_bad_folders_are_clear_errors(tmp_path):
    write_masks(str(tmp_path), count=3)
    (tmp_path / "classes.txt").write_text("red\n")
    with pytest.raises(ValueError, match="1 class names, and the masks hold class id 2"):
        dense.open_source(f"masks:{tmp_path}")
    (tmp_path / "classes.txt").unlink()
    (tmp_path / "train.txt").write_text("000\n404\n")
    with pytest.raises(FileNotFoundError, match="Missing image file for '404'"):
        dense.open_source(f"masks:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="expected the folders images/ and masks/"):
        dense.open_source(f"masks:{tmp_path / 'masks'}")
