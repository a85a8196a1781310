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
- ``fashion_mnist_translated60``, ``fashion_mnist_cluttered60``: Fashion-MNIST at random places of a 60x60 canvas
  (with 8x8 clutter), generated from the IDX files, seeded per split (kerazoo.datasets.translated).
- any other name: tensorflow-datasets with ``data_dir`` and ``download=False`` (prepare it once elsewhere with
  ``tfds build NAME --data_dir DIR``).

Splits take tensorflow-datasets' syntax for every dataset: ``train``, ``test``, slices ``train[:55000]``,
``train[:80%]``, ``train[10:20%]`` (10% to 20%), ``test[-100:]``, and sums ``train+test``, ``train[:80%]+validation``
(where the dataset has that split) or ``all``. ``load(name, split, as_supervised=True)`` gives (image, label) pairs as
tfds does (kerazoo's default); ``as_supervised=False`` gives tfds' ``{"image", "label"}`` dicts.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from dataclasses import dataclass, field

import numpy as np

from kerazoo import runtime
from kerazoo.datasets.idx import read_idx, write_idx

__all__ = ["DatasetInfo", "SplitSlice", "info", "load", "load_arrays", "parse_split", "pipeline_options", "read_idx",
           "write_idx", "LOCAL_DATASETS", "TRANSLATED_DATASETS"]

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


TRANSLATED_DATASETS = ("fashion_mnist_translated60", "fashion_mnist_cluttered60")
"""Fashion-MNIST on a 60x60 canvas, made in memory by kerazoo.datasets.translated (the RAM paper's tasks)."""
LOCAL_DATASETS = ("fashion_mnist", "mnist", "digits", *TRANSLATED_DATASETS)
LOCAL_SPLITS = ("train", "test")
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
    if name in TRANSLATED_DATASETS:
        from kerazoo.datasets.translated import translated_arrays

        return translated_arrays(name, base_split, data_dir)
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


_SPLIT_PART = re.compile(r"^(?P<name>[\w-]+)(?:\[(?P<selector>[^\]]*)\])?$")
_BOUND = re.compile(r"^(?P<value>-?[\d_.]+)?(?P<percent>%)?$")
SPLIT_SYNTAX = ("a split name, a slice such as 'train[:80%]', 'train[10:20%]' or 'test[-100:]', or a sum such as "
                "'train+test'")


@dataclass(frozen=True)
class SplitSlice:
    """One term of a split string (tfds' syntax): a split and the part of it to read.

    ``start``/``stop`` are example counts, or percentages when ``percent`` (tfds: ``train[10:20%]`` means 10% to
    20%, the unit of either bound applies to both). Percentages round to the closest example, as tfds does.
    """

    split: str
    start: float | None = None
    stop: float | None = None
    percent: bool = False

    def indices(self, n: int) -> slice:
        """The slice of a split of ``n`` examples (bounds beyond the split are clipped, as Python's slices)."""

        def bound(value):
            if value is None or not self.percent:
                return value
            return int(round(value * n / 100.0))

        return slice(bound(self.start), bound(self.stop))


def parse_split(split: str, available) -> list[SplitSlice]:
    """The terms of ``split`` ('train+test', 'train[:80%]+validation', 'all' = every split), each checked against the
    ``available`` split names; a malformed string or an unknown split is a ValueError naming the available ones."""
    available = list(available)
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"Invalid split: expected {SPLIT_SYNTAX}. Received: split={split!r}")
    terms = []
    for text in re.split(r"\s*\+\s*", split.strip()):
        match = _SPLIT_PART.match(text.replace(" ", ""))
        if not match:
            raise ValueError(f"Invalid split: expected {SPLIT_SYNTAX}. Received: split={split!r}")
        name, selector = match["name"], match["selector"]
        if name == "all":
            if selector is not None:
                raise ValueError(f"Invalid split: 'all' cannot be sliced (as in tfds). Received: split={split!r}")
            terms += [SplitSlice(s) for s in available]
            continue
        if name not in available:
            raise _unknown_split(name, available, split)
        if selector is None:
            terms.append(SplitSlice(name))
            continue
        bounds = [_BOUND.match(b) for b in selector.split(":")]
        if len(bounds) != 2 or not all(bounds) or not any(b["value"] for b in bounds) \
                or any(b["percent"] and not b["value"] for b in bounds):
            raise ValueError(f"Invalid split: a slice is [start:stop] with example counts or percentages, e.g. "
                             f"'{name}[:80%]' or '{name}[-100:]'. Received: split={split!r}")
        percent = any(b["percent"] for b in bounds)
        try:
            start, stop = (None if b["value"] is None else (float if percent else int)(b["value"]) for b in bounds)
        except ValueError:
            raise ValueError(f"Invalid split: slice bounds are whole example counts or percentages. "
                             f"Received: split={split!r}") from None
        terms.append(SplitSlice(name, start, stop, percent))
    return terms


def _unknown_split(name: str, available: list, split: str) -> ValueError:
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Invalid split: {name!r} is not a split of this dataset, whose splits are "
                      f"{', '.join(available)} (or 'all').{hint} Received: split={split!r}")


def _check_split_names(split: str, available) -> None:
    """The split names of a tfds split string are the dataset's; tfds parses the rest (its shard slices and
    rounding options included)."""
    available = list(available)
    for text in re.split(r"\s*\+\s*", split.strip()):
        name = re.match(r"[\w-]*", text)[0]
        if name != "all" and name not in available:
            raise _unknown_split(name, available, split)


def load_arrays(name: str, split: str, *, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The split as NumPy arrays: uint8 images [N, H, W, C] and int32 labels [N] (local datasets only).

    ``split`` takes tfds' syntax: ``train``, ``train+test``, ``train[:80%]``, ``train[10:20%]``, ``test[-100:]``,
    ``all``; the terms of a sum are concatenated in order.
    """
    name = canonical_name(name)
    if name not in LOCAL_DATASETS:
        raise ValueError(f"load_arrays supports the local datasets {LOCAL_DATASETS}; use load() for {name!r}.")
    images, labels = [], []
    for term in parse_split(split, LOCAL_SPLITS):
        split_images, split_labels = _local_arrays(name, term.split, data_dir)
        part = term.indices(len(split_images))
        images.append(split_images[part])
        labels.append(split_labels[part])
    if len(images) == 1:
        return images[0], labels[0]
    return np.concatenate(images), np.concatenate(labels)


def split_arrays(name: str, split: str, *, data_dir=None, limit: int | None = None,
                 batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Any dataset's split, in order, as NumPy arrays: float32 raw-pixel images [N, H, W, C] and labels [N], as
    :func:`load` yields them (its first ``limit`` examples when given). :func:`load_arrays` reads local files only."""
    batches = load(name, split, data_dir=data_dir, batch_size=batch_size, shuffle=False, limit=limit)
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in batches])
    return np.concatenate(images), np.concatenate(labels)


def canonical_name(name: str) -> str:
    """A dataset name as the tables key it (``Fashion-MNIST`` → ``fashion_mnist``)."""
    return name.strip().lower().replace("-", "_")


@functools.lru_cache(maxsize=16)
def _info(name: str, data_dir) -> DatasetInfo:
    if name in GENERATED_DATASETS:
        from kerazoo.datasets.scenes import scenes_info

        return scenes_info(data_dir)
    if name in LOCAL_DATASETS:
        images, _ = _local_arrays(name, "train", data_dir)
        if name in TRANSLATED_DATASETS:
            from kerazoo.datasets.translated import canvas_stats

            mean, std = canvas_stats(images)
        else:
            scaled = images.astype(np.float64) / 255.0
            mean = tuple(float(v) for v in scaled.mean(axis=(0, 1, 2)))
            std = tuple(float(v) for v in scaled.std(axis=(0, 1, 2)))
        fashion = name == "fashion_mnist" or name in TRANSLATED_DATASETS
        classes = FASHION_CLASSES if fashion else tuple(str(i) for i in range(10))
        splits = {"train": len(images), "test": len(_local_arrays(name, "test", data_dir)[0])}
        source = "scikit-learn" if name == "digits" else "generated" if name in TRANSLATED_DATASETS else "idx"
        return DatasetInfo(name, tuple(images.shape[1:]), 10, classes, mean, std, source, splits)
    return _tfds_info(name, data_dir)


def info(name: str, *, data_dir=None) -> DatasetInfo:
    """Shape, classes and normalization statistics (from the training split) of a dataset."""
    return _info(canonical_name(name), data_dir)


def _tfds_builder(name: str, data_dir):
    import tensorflow_datasets as tfds

    if name not in tfds.list_builders() and name.split("/")[0].split(":")[0] not in tfds.list_builders():
        close = difflib.get_close_matches(name, list(dict.fromkeys([*LOCAL_DATASETS, *tfds.list_builders()])), n=4, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown dataset {name!r}: not a kerazoo local dataset ({', '.join(LOCAL_DATASETS)}) and not a "
            f"tensorflow-datasets name.{hint}"
        )
    return tfds.builder(name, data_dir=data_dir)


def tfds_split(builder, split: str):
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
    sample = tfds_split(builder, "train").take(512)
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
    split,
    *,
    data_dir=None,
    batch_size: int | None = 128,
    as_supervised: bool = True,
    with_info: bool = False,
    shuffle: bool | None = None,
    augment=(),
    seed: int = 0,
    limit: int | None = None,
    drop_remainder: bool = False,
):
    """A batched, prefetched ``tf.data.Dataset`` of (float32 raw pixels [B, H, W, C], int32 labels [B]).

    Args:
        name: dataset name (see the module docstring).
        split: tfds' split syntax: ``train``, ``test``, a slice such as ``train[:55000]``, ``train[:80%]`` or
            ``test[-100:]``, a sum such as ``train+test``, or ``all``. A list of splits gives a list of datasets, as
            in tfds.
        data_dir: where the files are (default: ``$KERAZOO_DATA_DIR``, then the Debian package's folder; for tfds
            names, tfds' own default).
        batch_size: examples per batch; None for single examples (tfds' default).
        as_supervised: (image, label) tuples (the default, as tfds' ``as_supervised=True``); False for tfds'
            feature dicts ``{"image": ..., "label": ...}``.
        with_info: return ``(dataset, info(name))``, as tfds' ``with_info=True`` (info is a :class:`DatasetInfo`).
        shuffle: shuffle every epoch (default: True for training splits, False otherwise), seeded by ``seed``.
        augment: names from ``kerazoo.datasets.augment.NAMES`` (crop, scale, flip, color, pca_lighting, erase,
            mixup); see that module.
        seed: seed of shuffling and augmentation.
        limit: keep only the first ``limit`` examples of the split.
        drop_remainder: drop the last incomplete batch.
    """
    import tensorflow as tf

    if isinstance(split, (list, tuple)):
        datasets = [load(name, s, data_dir=data_dir, batch_size=batch_size, as_supervised=as_supervised,
                         shuffle=shuffle, augment=augment, seed=seed, limit=limit, drop_remainder=drop_remainder)
                    for s in split]
        return (datasets, info(name, data_dir=data_dir)) if with_info else datasets
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"Invalid batch_size: expected a positive integer or None. "
                         f"Received: batch_size={batch_size!r}")
    if batch_size is None and augment and "mixup" in augment:
        raise ValueError("mixup mixes the examples of a batch; give a batch_size. Received: batch_size=None")
    name = canonical_name(name)
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
        if builder.info.splits:  # empty while the dataset is not prepared: tfds_split says how to prepare it
            _check_split_names(split, builder.info.splits)
        ds = tfds_split(builder, split)
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
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment and "mixup" in augment:
        ds = ds.map(augmentations.batch_fn(augment, meta.num_classes), num_parallel_calls=tf.data.AUTOTUNE)
    if not as_supervised:
        ds = ds.map(lambda x, y: {"image": x, "label": y})
    ds = ds.with_options(pipeline_options()).prefetch(tf.data.AUTOTUNE)
    return (ds, meta) if with_info else ds


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
