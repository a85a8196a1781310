"""tensorflow-datasets' idioms, as its documentation writes them, run against kerazoo.datasets.

    ds = tfds.load("mnist", split="train+test", as_supervised=True)
    train, test = tfds.load("mnist", split=["train[:80%]", "test"])
    ds, info = tfds.load("mnist", split="train[10:20%]", with_info=True)

Split strings are checked against tfds' own parser: the same examples, for kerazoo's IDX loader and scikit-learn's
digits alike.
"""

import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kerazoo import datasets

SPECS = [
    "train", "test", "train+test", "test+train", "all", "train[:80%]+test", "train[10:20%]", "train[10%:20]",
    "test[-10:]", "train[:-5%]+test[40%:60%]", "train[33.3%:]", "train[-5%:]", "train[1_0:]", "train[5:7]+train[:2]",
    "test [ -40 : ]",
]


def _tfds_indices(spec, sizes):
    """The (split, index) pairs tfds itself reads for ``spec`` from splits of ``sizes``."""
    infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[n], num_bytes=0) for name, n in sizes.items()}
    pairs = []
    for part in tfds.core.ReadInstruction.from_spec(spec.replace(" ", "")).to_absolute(infos):
        pairs += [(part.splitname, i) for i in range(sizes[part.splitname])[part.from_:part.to]]
    return pairs


def _kerazoo_indices(spec, sizes):
    pairs = []
    for term in datasets.parse_split(spec, list(sizes)):
        pairs += [(term.split, i) for i in range(sizes[term.split])[term.indices(sizes[term.split])]]
    return pairs


@pytest.mark.parametrize("sizes", [{"train": 96, "test": 48}, {"train": 1437, "test": 360}])
@pytest.mark.parametrize("spec", SPECS)
def test_split_strings_read_what_tfds_reads(spec, sizes):
    assert _kerazoo_indices(spec, sizes) == _tfds_indices(spec, sizes)


def test_split_arithmetic_on_the_idx_loader(idx_data_dir):
    train_x, train_y = datasets.load_arrays("fashion_mnist", "train", data_dir=idx_data_dir)
    test_x, test_y = datasets.load_arrays("fashion_mnist", "test", data_dir=idx_data_dir)
    both_x, both_y = datasets.load_arrays("fashion_mnist", "train+test", data_dir=idx_data_dir)
    np.testing.assert_array_equal(both_x, np.concatenate([train_x, test_x]))
    np.testing.assert_array_equal(both_y, np.concatenate([train_y, test_y]))
    mixed_x, _ = datasets.load_arrays("fashion_mnist", "train[:80%]+test[-10:]", data_dir=idx_data_dir)
    np.testing.assert_array_equal(mixed_x, np.concatenate([train_x[:77], test_x[-10:]]))  # round(76.8) = 77
    assert len(datasets.load_arrays("fashion_mnist", "all", data_dir=idx_data_dir)[0]) == 96 + 48


def test_split_arithmetic_on_digits():
    train_x, _ = datasets.load_arrays("digits", "train")
    test_x, _ = datasets.load_arrays("digits", "test")
    part_x, _ = datasets.load_arrays("digits", "train[10:20%]+test[-100:]")
    np.testing.assert_array_equal(part_x, np.concatenate([train_x[144:287], test_x[-100:]]))


def test_load_as_supervised_gives_image_label_pairs(idx_data_dir):
    ds = datasets.load("fashion_mnist", split="train+test", as_supervised=True, batch_size=None, shuffle=False,
                       data_dir=idx_data_dir)
    pairs = list(ds.as_numpy_iterator())
    assert len(pairs) == 96 + 48
    image, label = pairs[0]
    assert image.shape == (28, 28, 1) and image.dtype == np.float32 and label.dtype == np.int32 and label.shape == ()
    _, test_y = datasets.load_arrays("fashion_mnist", "test", data_dir=idx_data_dir)
    np.testing.assert_array_equal([y for _, y in pairs[96:]], test_y)


def test_load_feature_dicts_list_of_splits_and_with_info(idx_data_dir):
    features = datasets.load("fashion_mnist", "test[:8]", as_supervised=False, batch_size=4, data_dir=idx_data_dir)
    batch = next(iter(features))
    assert set(batch) == {"image", "label"} and batch["image"].shape == (4, 28, 28, 1)
    (train, test), info = datasets.load("fashion_mnist", split=["train[:80%]", "test"], batch_size=None,
                                        with_info=True, data_dir=idx_data_dir)
    assert sum(1 for _ in train) == 77 and sum(1 for _ in test) == 48
    assert info.num_classes == 10 and info.splits == {"train": 96, "test": 48}
    ds, info = datasets.load("fashion_mnist", "train[10:20%]", with_info=True, data_dir=idx_data_dir)
    assert info.name == "fashion_mnist" and sum(int(x.shape[0]) for x, _ in ds) == 19 - 10


@pytest.mark.parametrize("split, message", [
    ("validation", r"'validation' is not a split of this dataset, whose splits are train, test"),
    ("train+valid", r"'valid' is not a split.*Received: split='train\+valid'"),
    ("tain[:10%]", r"Did you mean 'train'\?"),
    ("train[5]", r"a slice is \[start:stop\]"),
    ("train[:abc]", r"a slice is \[start:stop\]"),
    ("train[:]", r"a slice is \[start:stop\]"),
    ("train[1.5:]", "whole example counts"),
    ("all[:10%]", "'all' cannot be sliced"),
    ("train++test", "Invalid split"),
    ("", "Invalid split"),
])
def test_bad_split_strings_name_the_available_splits(idx_data_dir, split, message):
    with pytest.raises(ValueError, match=message):
        datasets.load_arrays("fashion_mnist", split, data_dir=idx_data_dir)


def test_tfds_names_check_the_split_names_and_leave_the_rest_to_tfds(monkeypatch):
    import tensorflow as tf

    asked = []

    def as_dataset(split, as_supervised):
        asked.append(split)
        return tf.data.Dataset.from_tensor_slices((np.zeros((3, 4, 4, 1), np.uint8), np.arange(3)))

    builder = types.SimpleNamespace(info=types.SimpleNamespace(splits={"train": 50, "validation": 10}),
                                    as_dataset=as_dataset)
    monkeypatch.setattr(datasets, "_tfds_builder", lambda name, data_dir: builder)
    monkeypatch.setattr(datasets, "info", lambda name, data_dir=None: None)
    with pytest.raises(ValueError, match="whose splits are train, validation"):
        datasets.load("some_tfds_dataset", "train[:80%]+test")
    assert asked == []
    ds = datasets.load("some_tfds_dataset", "train[:2shard]+validation[:50%]", batch_size=None, shuffle=False)
    assert asked == ["train[:2shard]+validation[:50%]"] and len(list(ds)) == 3  # tfds' own syntax, passed on


def test_bad_batch_size():
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        datasets.load("digits", "train", batch_size=0)
    with pytest.raises(ValueError, match="mixup"):
        datasets.load("digits", "train", batch_size=None, augment=("mixup",))


def test_bounds_beyond_the_split_are_clipped(idx_data_dir):
    # tfds raises here; kerazoo keeps its slices' Python semantics, which configs written for the full
    # Fashion-MNIST (train[:55000]) rely on when they run on a smaller copy.
    test_x, _ = datasets.load_arrays("fashion_mnist", "test", data_dir=idx_data_dir)
    np.testing.assert_array_equal(datasets.load_arrays("fashion_mnist", "test[-100:]", data_dir=idx_data_dir)[0],
                                  test_x)
