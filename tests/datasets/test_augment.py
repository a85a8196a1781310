"""Augmentations by name: shapes, ranges and what each one does; mixup's soft labels; test-time augmentation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerazoo import datasets
from kerazoo.datasets import augment


def apply(names, image, seed=0):
    tf.random.set_seed(seed)
    out, _ = augment.example_fn(names, image.shape)(tf.constant(image), tf.constant(0))
    return out.numpy()


@pytest.fixture
def rgb():
    return np.random.default_rng(0).uniform(0, 255, size=(16, 16, 3)).astype("float32")


@pytest.mark.parametrize("name", augment.AUGMENTATIONS)
def test_each_augmentation_keeps_shape_and_range(rgb, name):
    outs = [apply([name], rgb, seed) for seed in range(4)]
    for out in outs:
        assert out.shape == rgb.shape and out.dtype == np.float32
        assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3
    assert any(not np.allclose(out, rgb) for out in outs)  # it does something


def test_flip_and_crop_are_what_they_say(rgb):
    flips = [apply(["flip"], rgb, seed) for seed in range(6)]
    assert all(np.allclose(f, rgb) or np.allclose(f, rgb[:, ::-1]) for f in flips)
    crop = apply(["crop"], rgb)
    found = [(r, c) for r in range(-2, 3) for c in range(-2, 3)
             if np.allclose(crop[2:-2, 2:-2], rgb[2 + r:14 + r, 2 + c:14 + c])]
    assert found  # a shifted copy of the image (zero padding outside)


def test_pca_lighting_shifts_colour_along_imagenet_components(rgb):
    image = np.full((4, 4, 3), 128.0, "float32")
    shift = apply(["pca_lighting"], image)[0, 0] - 128.0
    assert np.allclose(apply(["pca_lighting"], image), 128.0 + shift)  # one colour offset for every pixel
    with pytest.raises(ValueError, match="RGB"):
        apply(["pca_lighting"], rgb[..., :1])


def test_rgb_augmentation_on_a_greyscale_dataset_is_a_one_line_error(tmp_path, capsys):
    from kerazoo.cli import main

    code = main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "run"),
                 "data.augment=[crop,pca_lighting]"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "pca_lighting needs RGB images; these have 1 channel(s)" in err
    errors = [line for line in err.splitlines() if not line.startswith("kerazoo: ")]  # stage lines are progress
    assert len(errors) == 1 and 'File "' not in err  # not the tf.data tracing traceback


def test_erase_fills_one_rectangle(rgb):
    image = np.zeros((16, 16, 1), "float32")
    erased = [apply(["erase"], image, seed) != 0 for seed in range(8)]
    changed = [e[..., 0] for e in erased if e.any()]
    assert changed and len(changed) < 8  # probability 1/2
    rows, cols = np.nonzero(changed[0])
    box = changed[0][rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert box.mean() > 0.95


def test_mixup_mixes_images_and_labels(idx_data_dir):
    ds = datasets.load("fashion_mnist", "train", data_dir=idx_data_dir, batch_size=8, augment=["mixup"],
                       shuffle=False)
    images, labels = next(iter(ds))
    assert labels.shape == (8, 10)
    np.testing.assert_allclose(labels.numpy().sum(axis=1), 1.0, rtol=1e-5)
    raw, raw_labels = datasets.load_arrays("fashion_mnist", "train[:8]", data_dir=idx_data_dir)
    # Example i is mixed with example 7 - i (the reversed batch) by one λ for the whole batch.
    i = next(i for i in range(8) if raw_labels[i] != raw_labels[7 - i])
    lam = labels.numpy()[i, raw_labels[i]]
    np.testing.assert_allclose(images.numpy()[i], lam * raw[i] + (1 - lam) * raw[7 - i], rtol=1e-4, atol=1e-2)


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match="Did you mean: erase"):
        augment.check_names(["erasee"])


def test_tta_views_and_prediction():
    images = np.random.default_rng(0).uniform(0, 255, size=(3, 8, 8, 1)).astype("float32")
    views = augment.tta_views(images, pad=2)
    assert len(views) == 10 and all(v.shape == images.shape for v in views)
    np.testing.assert_array_equal(views[0], images)  # the centre crop of the padded image is the image
    np.testing.assert_array_equal(views[5], images[:, :, ::-1])
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(4, name="logits")], name="tta_model")
    probs = augment.tta_predict(model, images, pad=2)
    expected = np.mean([keras.ops.convert_to_numpy(keras.ops.softmax(model(v))) for v in views], axis=0)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)
