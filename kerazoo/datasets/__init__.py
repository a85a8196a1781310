"""Datasets by name → ``tf.data`` pipelines of (raw pixels, label).

    from kerazoo import datasets
    train = datasets.load("fashion_mnist", "train[:55000]", batch_size=128, augment=("crop", "flip"))
    info = datasets.info("fashion_mnist")        # image shape, classes, class names, mean/std

Images come as float32 raw pixels in [0, 255], shape [batch, H, W, C]; labels as int32. Models carry their own
normalization (see kerazoo.training), so the same raw pixels feed training, export and serving.

Sources, all offline:
- ``fashion_mnist`` and ``mnist``: IDX files (plain or .gz) in ``data_dir``, ``$KERAZOO_DATA_DIR`` or the Debian
  package's folder (``apt-get install dataset-fashion-mnist`` → /usr/share/datasets/fashion-mnist).
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images; 80/20 train/test split, fixed), for tiny tests.
- any other name: tensorflow-datasets with ``data_dir`` and ``download=False`` (prepare it once elsewhere with
  ``tfds build NAME --data_dir DIR``).

Splits: ``train``, ``test`` and slices ``train[:55000]``, ``train[55000:]``, ``train[:10%]`` (as in tfds).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field

import numpy as np

from kerazoo import runtime
from kerazoo.datasets.idx import read_idx, write_idx

__all__ = ["DatasetInfo", "info", "load", "load_arrays", "pipeline_options", "read_idx", "write_idx",
           "LOCAL_DATASETS"]

DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")


@dataclass(frozen=True)
class DatasetInfo:
    """What a pipeline needs to know about a dataset. ``mean``/``std`` are per channel, for pixels scaled to [0, 1]."""

    name: str
    image_shape: tuple
    num_classes: int
    class_names: tuple
    mean: tuple
    std: tuple
    source: str
    splits: dict = field(default_factory=dict)  # split name → number of examples


LOCAL_DATASETS = ("fashion_mnist", "mnist", "digits")
GENERATED_DATASETS = ("fashion_mnist_scenes",)
"""Made from local data by kerazoo.datasets.scenes; load them with ``scenes.load_scenes(split, task, ...)``."""


def _idx_dirs(name: str, data_dir) -> list[str]:
    dirs = []
    for base in (data_dir, os.environ.get("KERAZOO_DATA_DIR")):
        if base:
            dirs += [os.path.join(base, name), os.path.join(base, name.replace("_", "-")), base]
    if name in DEBIAN_DIRS:
        dirs.append(DEBIAN_DIRS[name])
    return dirs


def _find_idx(name: str, data_dir, stem: str) -> str | None:
    for d in _idx_dirs(name, data_dir):
        for candidate in (os.path.join(d, stem), os.path.join(d, stem + ".gz")):
            if os.path.isfile(candidate):
                return candidate
    return None


@functools.lru_cache(maxsize=8)
def _local_arrays(name: str, base_split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
        order = np.random.default_rng(1797).permutation(len(images))
        cut = int(0.8 * len(images))
        idx = order[:cut] if base_split == "train" else order[cut:]
        return images[idx], digits.target[idx].astype(np.int32)
    image_stem, label_stem = IDX_FILES[base_split]
    image_path, label_path = _find_idx(name, data_dir, image_stem), _find_idx(name, data_dir, label_stem)
    if image_path is None or label_path is None:
        hint = (
            "Install it with `sudo apt-get install dataset-fashion-mnist`, or"
            if name == "fashion_mnist"
            else "Download the four IDX files (e.g. from Yann LeCun's MNIST page) and"
        )
        raise FileNotFoundError(
            f"Dataset {name!r} ({base_split}) not found: no {image_stem}[.gz] / {label_stem}[.gz] in "
            f"{', '.join(_idx_dirs(name, data_dir))}. {hint} put the IDX files in a folder given as "
            f"--data-dir / data_dir= or $KERAZOO_DATA_DIR."
        )
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{image_path} and {label_path} do not match: images {images.shape}, labels {labels.shape}."
        )
    return images[..., None], labels.astype(np.int32)


_SPLIT = re.compile(r"^(?P<base>train|test)(?:\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")


def _slice(split: str, n: int) -> tuple[str, slice]:
    match = _SPLIT.match(split.replace(" ", ""))
    if not match:
        raise ValueError(
            f"Invalid split: expected 'train', 'test' or a slice such as 'train[:55000]' or 'train[90%:]'. "
            f"Received: split={split!r}"
        )

    def bound(text):
        if text is None:
            return None
        if text.endswith("%"):
            return int(round(n * int(text[:-1]) / 100))
        return int(text)

    return match["base"], slice(bound(match["start"]), bound(match["stop"]))


def load_arrays(name: str, split: str, *, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The split as NumPy arrays: uint8 images [N, H, W, C] and int32 labels [N] (local datasets only)."""
    name = _canonical(name)
    if name not in LOCAL_DATASETS:
        raise ValueError(f"load_arrays supports the local datasets {LOCAL_DATASETS}; use load() for {name!r}.")
    base, _ = _slice(split, 0)
    images, labels = _local_arrays(name, base, data_dir)
    _, part = _slice(split, len(images))
    return images[part], labels[part]


def _canonical(name: str) -> str:
    return name.strip().lower().replace("-", "_")


@functools.lru_cache(maxsize=16)
def _info(name: str, data_dir) -> DatasetInfo:
    if name in GENERATED_DATASETS:
        from kerazoo.datasets.scenes import scenes_info

        return scenes_info(data_dir)
    if name in LOCAL_DATASETS:
        images, _ = _local_arrays(name, "train", data_dir)
        scaled = images.astype(np.float64) / 255.0
        mean = tuple(float(v) for v in scaled.mean(axis=(0, 1, 2)))
        std = tuple(float(v) for v in scaled.std(axis=(0, 1, 2)))
        classes = FASHION_CLASSES if name == "fashion_mnist" else tuple(str(i) for i in range(10))
        splits = {"train": len(images), "test": len(_local_arrays(name, "test", data_dir)[0])}
        source = "scikit-learn" if name == "digits" else "idx"
        return DatasetInfo(name, tuple(images.shape[1:]), 10, classes, mean, std, source, splits)
    return _tfds_info(name, data_dir)


def info(name: str, *, data_dir=None) -> DatasetInfo:
    """Shape, classes and normalization statistics (from the training split) of a dataset."""
    return _info(_canonical(name), data_dir)


def _tfds_builder(name: str, data_dir):
    import tensorflow_datasets as tfds

    if name not in tfds.list_builders() and name.split("/")[0].split(":")[0] not in tfds.list_builders():
        import difflib

        close = difflib.get_close_matches(name, list(dict.fromkeys([*LOCAL_DATASETS, *tfds.list_builders()])), n=4, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown dataset {name!r}: not a kerazoo local dataset ({', '.join(LOCAL_DATASETS)}) and not a "
            f"tensorflow-datasets name.{hint}"
        )
    return tfds.builder(name, data_dir=data_dir)


def _tfds_split(builder, split: str):
    """``builder.as_dataset`` with tfds' not-prepared error turned into one that says what to do."""
    try:
        return builder.as_dataset(split=split, as_supervised=True)
    except (AssertionError, FileNotFoundError) as error:
        raise FileNotFoundError(
            f"Dataset {builder.name!r} is not prepared in data_dir={builder.data_dir!r}, and kerazoo never downloads "
            f"at run time. On a machine with internet run `tfds build {builder.name} --data_dir DIR`, copy DIR here "
            f"and pass --data-dir DIR (or data_dir=DIR). ({type(error).__name__}: {str(error)[:200]})"
        ) from None


def _tfds_info(name: str, data_dir) -> DatasetInfo:
    builder = _tfds_builder(name, data_dir)
    features = builder.info.features
    image_shape = tuple(features["image"].shape)
    label = features["label"]
    sample = _tfds_split(builder, "train").take(512)
    images = np.stack([np.asarray(x) for x, _ in sample.as_numpy_iterator()]).astype(np.float64) / 255.0
    return DatasetInfo(
        name=name,
        image_shape=image_shape,
        num_classes=int(label.num_classes),
        class_names=tuple(label.names),
        mean=tuple(float(v) for v in images.mean(axis=(0, 1, 2))),
        std=tuple(float(v) for v in images.std(axis=(0, 1, 2))),
        source="tfds",
        splits={k: int(v.num_examples) for k, v in builder.info.splits.items()},
    )


def load(
    name: str,
    split: str,
    *,
    data_dir=None,
    batch_size: int = 128,
    shuffle: bool | None = None,
    augment=(),
    seed: int = 0,
    limit: int | None = None,
    drop_remainder: bool = False,
):
    """A batched, prefetched ``tf.data.Dataset`` of (float32 raw pixels [B, H, W, C], int32 labels [B]).

    Args:
        name: dataset name (see the module docstring).
        split: ``train``, ``test`` or a slice such as ``train[:55000]``.
        data_dir: where the files are (default: ``$KERAZOO_DATA_DIR``, then the Debian package's folder; for tfds
            names, tfds' own default).
        batch_size: examples per batch.
        shuffle: shuffle every epoch (default: True for training splits, False otherwise), seeded by ``seed``.
        augment: names from ``kerazoo.datasets.augment.NAMES`` (crop, scale, flip, color, pca_lighting, erase,
            mixup); see that module.
        seed: seed of shuffling and augmentation.
        limit: keep only the first ``limit`` examples of the split.
        drop_remainder: drop the last incomplete batch.
    """
    import tensorflow as tf

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Invalid batch_size: expected a positive integer. Received: batch_size={batch_size!r}")
    name = _canonical(name)
    if name in GENERATED_DATASETS:
        raise ValueError(f"{name!r} has per-task targets: use kerazoo.datasets.scenes.load_scenes(split, task, ...).")
    meta = info(name, data_dir=data_dir)
    if name in LOCAL_DATASETS:
        images, labels = load_arrays(name, split, data_dir=data_dir)
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        if len(images) == 0:
            raise ValueError(f"Split {split!r} of {name!r} is empty.")
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        size = len(images)
    else:
        builder = _tfds_builder(name, data_dir)
        ds = _tfds_split(builder, split)
        if limit is not None:
            ds = ds.take(limit)
        ds = ds.cache()
        size = int(ds.cardinality())
    if shuffle is None:
        shuffle = split.startswith("train")
    if shuffle:
        ds = ds.shuffle(max(size, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.int32)))
    if augment:
        from kerazoo.datasets import augment as augmentations

        tf.random.set_seed(seed)
        ds = ds.map(augmentations.example_fn(augment, meta.image_shape), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment and "mixup" in augment:
        ds = ds.map(augmentations.batch_fn(augment, meta.num_classes), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.with_options(pipeline_options()).prefetch(tf.data.AUTOTUNE)


def pipeline_options():
    """The ``tf.data.Options`` of every kerazoo input pipeline.

    Deterministic order, so a seeded run repeats. tf.data's autotuner runs threads of its own beside the training
    step; on 2 cores they took CPU from it: the same ResNet-20 training windows ran at 553 images/s with it off and at
    402 or 201 at random with it on (docs/performance.md). So with 2 cores or fewer it is off, and the ``AUTOTUNE``
    settings keep their starting values (map parallelism = the cores); the data is cached, so that is enough.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = runtime.usable_cores() > 2
    return options
