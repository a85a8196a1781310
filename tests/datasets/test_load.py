import numpy as np
import pytest

from kerazoo import datasets


def test_idx_dataset_from_data_dir(idx_data_dir):
    info = datasets.info("fashion_mnist", data_dir=idx_data_dir)
    assert info.image_shape == (28, 28, 1) and info.num_classes == 10 and info.splits == {"train": 96, "test": 48}
    assert info.class_names[0] == "t-shirt/top" and 0 < info.mean[0] < 1 and 0 < info.std[0] < 1
    ds = datasets.load("fashion_mnist", "train[:40]", data_dir=idx_data_dir, batch_size=16)
    batches = list(ds)
    assert [int(x.shape[0]) for x, _ in batches] == [16, 16, 8]
    x, y = batches[0]
    assert x.dtype.name == "float32" and y.dtype.name == "int32" and x.shape[1:] == (28, 28, 1)
    assert float(np.max(x)) == 250.0  # raw pixels, not normalized


@pytest.mark.parametrize("cores, autotune", [(2, False), (8, True)])
def test_pipelines_are_ordered_and_autotune_only_with_cores_to_spare(idx_data_dir, monkeypatch, cores, autotune):
    monkeypatch.setattr(datasets.runtime, "usable_cores", lambda: cores)
    ds = datasets.load("fashion_mnist", "train", data_dir=idx_data_dir, batch_size=16, augment=["crop", "flip"])
    assert ds.options().deterministic is True
    assert ds.options().autotune.enabled is autotune
    assert sum(int(x.shape[0]) for x, _ in ds) == 96  # the fixed settings still deliver every batch


def test_split_slices(idx_data_dir):
    images, _ = datasets.load_arrays("fashion_mnist", "train", data_dir=idx_data_dir)
    head, _ = datasets.load_arrays("fashion_mnist", "train[:50%]", data_dir=idx_data_dir)
    tail, _ = datasets.load_arrays("fashion_mnist", "train[-10:]", data_dir=idx_data_dir)
    np.testing.assert_array_equal(head, images[:48])
    np.testing.assert_array_equal(tail, images[-10:])
    with pytest.raises(ValueError, match="Invalid split"):
        datasets.load_arrays("fashion_mnist", "validation", data_dir=idx_data_dir)


def test_shuffle_is_seeded_and_augmentation_keeps_shapes(idx_data_dir):
    def labels(seed):
        ds = datasets.load("fashion_mnist", "train", data_dir=idx_data_dir, batch_size=96, seed=seed)
        return next(iter(ds))[1].numpy()

    np.testing.assert_array_equal(labels(1), labels(1))
    assert not np.array_equal(labels(1), labels(2))
    aug = datasets.load("fashion_mnist", "train", data_dir=idx_data_dir, batch_size=8, augment=("crop", "flip"))
    x, _ = next(iter(aug))
    assert x.shape == (8, 28, 28, 1)
    with pytest.raises(ValueError, match="Invalid augment"):
        datasets.load("fashion_mnist", "train", data_dir=idx_data_dir, augment=("rotate",))


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(datasets.DEBIAN_DIRS, "mnist", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="Dataset 'mnist' \\(train\\) not found.*KERAZOO_DATA_DIR"):
        datasets.load("mnist", "train", data_dir=str(tmp_path))


def test_unknown_and_unprepared_names(tmp_path):
    with pytest.raises(ValueError, match="Did you mean: fashion_mnist"):
        datasets.load("fashion_mnst", "train")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        datasets.load("cifar10", "train", data_dir=str(tmp_path))


def test_digits_is_bundled_real_data():
    info = datasets.info("digits")
    assert info.image_shape == (8, 8, 1) and info.splits == {"train": 1437, "test": 360}


def test_tfds_names_load_from_data_dir():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        ds = datasets.load("cifar10", "train", batch_size=5)
        x, y = next(iter(ds))
        assert x.shape == (5, 32, 32, 3) and x.dtype.name == "float32" and y.dtype.name == "int32"
