"""Data for the dense tasks: the generated Fashion-MNIST scenes, or a real benchmark by its tensorflow-datasets name.

Every source gives the same batches, so a head trains on any of them unchanged:
    images: float32 raw pixels [B, H, W, C] (0-255);
    localization: {"class": int32 [B], "box": float32 [B, 4]};
    segmentation: int32 [B, H, W] (0 = background, class + 1);
    detection: {"boxes": float32 [B, M, 4], "classes": int32 [B, M]}; instance adds "masks" [B, M, H, W].
Boxes are Keras ``"xyxy"`` absolute pixels, padded with -1 (see ``kerazoo.datasets.scenes``).

    from kerazoo.vision.data import load_dense
    ds = load_dense("fashion_mnist_scenes", "train", "segmentation", batch_size=32)
    ds = load_dense("voc/2012", "validation", "detection", image_size=320, data_dir="/data/tfds")

Real benchmarks (``TFDS_SOURCES``) are read with ``download=False``: prepare them once elsewhere with ``tfds build``.
Images are resized (bilinear; masks nearest) to a square ``image_size`` and boxes scaled with them.
"""

from __future__ import annotations

from kerazoo.datasets import scenes

__all__ = ["load_dense", "dense_info", "TFDS_SOURCES"]

TFDS_SOURCES = {
    "coco/2017": ("detection",),  # tfds' coco/2017 has boxes but no instance masks
    "voc/2012": ("detection",),
    "voc/2007": ("detection",),
    "scene_parse150": ("segmentation",),  # ADE20K's 150-class scene parsing benchmark
}
"""tensorflow-datasets names kerazoo maps to the dense format, and the tasks each can feed."""


def dense_info(dataset: str, *, data_dir=None):
    """``DatasetInfo`` of a dense dataset: the scenes' own, or the tfds builder's classes at a square image size."""
    from kerazoo import datasets

    if dataset == scenes.NAME:
        return datasets.info(dataset, data_dir=data_dir)
    builder = _builder(dataset, TFDS_SOURCES.get(dataset, ("detection",))[0], data_dir)
    if "objects" in builder.info.features:
        names = tuple(builder.info.features["objects"]["label"].names)
    else:
        names = tuple(str(i) for i in range(1, 151))
    return datasets.DatasetInfo(
        name=dataset, image_shape=(None, None, 3), num_classes=len(names), class_names=names,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), source="tfds",
        splits={k: int(v.num_examples) for k, v in builder.info.splits.items()},
    )


def load_dense(
    dataset: str,
    split: str,
    task: str,
    *,
    batch_size: int = 32,
    data_dir=None,
    shuffle: bool | None = None,
    seed: int = 0,
    limit: int | None = None,
    image_size: int = 320,
    max_objects: int = 100,
    stream: bool = False,
    stream_start: int = 0,
    **scene_options,
):
    """A batched ``tf.data.Dataset`` of (raw pixels, the task's targets) from the scenes or a tfds benchmark.

    Args:
        dataset: ``fashion_mnist_scenes`` or a name in ``TFDS_SOURCES``.
        split: the split (``train``, ``test``; tfds splits such as ``validation`` or ``train[:10%]``).
        task: ``localization``, ``segmentation``, ``detection`` or ``instance``.
        batch_size, data_dir, shuffle, seed: as in ``kerazoo.datasets.load``.
        limit: for the scenes, the number of scenes (``count``); for tfds, the first ``limit`` examples.
        image_size: tfds only: the square side images are resized to.
        max_objects: tfds only: boxes per image kept (the rest dropped), padding the others with -1.
        stream: scenes only: new scenes without end (``scenes.load_scenes``), for long schedules.
        stream_start: the stream's first scene (they are numbered from 0).
        **scene_options: scenes only: ``canvas``, ``max_objects``, ``min_objects``, ``scale_range``.
    """
    if dataset == scenes.NAME:
        return scenes.load_scenes(split, task, batch_size=batch_size, count=limit, data_dir=data_dir,
                                  shuffle=shuffle, seed=seed, stream=stream, stream_start=stream_start,
                                  **scene_options)
    if stream:
        raise ValueError(f"Invalid stream=True for {dataset!r}: only the generated {scenes.NAME!r} can draw new "
                         f"examples without end.")
    return _load_tfds(dataset, split, task, batch_size=batch_size, data_dir=data_dir, shuffle=shuffle, seed=seed,
                      limit=limit, image_size=image_size, max_objects=max_objects)


def _builder(dataset: str, task: str, data_dir):
    import difflib

    import tensorflow_datasets as tfds

    if dataset not in TFDS_SOURCES:
        known = [scenes.NAME, *TFDS_SOURCES]
        close = difflib.get_close_matches(dataset, known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Invalid dataset for dense tasks: expected one of {known}. Received: {dataset!r}.{hint}")
    tasks = TFDS_SOURCES[dataset]
    if task not in tasks:
        raise ValueError(f"Dataset {dataset!r} has no {task!r} labels: it feeds {list(tasks)}.")
    return tfds.builder(dataset, data_dir=data_dir)


def _load_tfds(dataset, split, task, *, batch_size, data_dir, shuffle, seed, limit, image_size, max_objects):
    import tensorflow as tf

    from kerazoo.datasets import _tfds_split  # the "not prepared" error that says what to do

    builder = _builder(dataset, task, data_dir)
    try:
        ds = builder.as_dataset(split=split)
    except (AssertionError, FileNotFoundError):
        _tfds_split(builder, split)  # raises the explanatory FileNotFoundError
        raise
    if limit is not None:
        ds = ds.take(limit)
    if split.startswith("train") if shuffle is None else shuffle:
        ds = ds.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    if task == "segmentation":
        convert = _segmentation_example(image_size)
    else:
        convert = _detection_example(dataset, image_size, max_objects)
    ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _resize(image, size, method):
    import tensorflow as tf

    return tf.image.resize(image, (size, size), method=method)


def _segmentation_example(image_size):
    import tensorflow as tf

    def convert(example):
        image = _resize(tf.cast(example["image"], tf.float32), image_size, "bilinear")
        # scene_parse150 stores the class id (0 = other/background) in every channel of the annotation image.
        mask = _resize(example["annotation"][..., :1], image_size, "nearest")[..., 0]
        return image, tf.cast(mask, tf.int32)

    return convert


def _detection_example(dataset, image_size, max_objects):
    import tensorflow as tf

    def convert(example):
        image = _resize(tf.cast(example["image"], tf.float32), image_size, "bilinear")
        objects = example["objects"]
        # tfds boxes are normalized [ymin, xmin, ymax, xmax]; kerazoo uses absolute "xyxy".
        ymin, xmin, ymax, xmax = tf.unstack(tf.reshape(objects["bbox"], (-1, 4)), axis=-1)
        boxes = tf.stack([xmin, ymin, xmax, ymax], axis=-1) * float(image_size)
        checks = [
            tf.debugging.assert_greater_equal(boxes[:, 2:], boxes[:, :2], message=(
                f"Invalid boxes in {dataset}: expected 'xyxy' boxes with x1 <= x2 and y1 <= y2")),
            tf.debugging.assert_greater_equal(boxes, 0.0, message=(
                f"Invalid boxes in {dataset}: expected boxes inside the image (coordinates >= 0)")),
            tf.debugging.assert_less_equal(boxes, float(image_size), message=(
                f"Invalid boxes in {dataset}: expected boxes inside the image (normalized coordinates <= 1)")),
        ]
        with tf.control_dependencies(checks):
            boxes = tf.identity(boxes[:max_objects])
        classes = tf.cast(objects["label"][:max_objects], tf.int32)
        pad = max_objects - tf.shape(boxes)[0]
        boxes = tf.pad(boxes, [[0, pad], [0, 0]], constant_values=-1.0)
        classes = tf.pad(classes, [[0, pad]], constant_values=-1)
        boxes.set_shape((max_objects, 4))
        classes.set_shape((max_objects,))
        return image, {"boxes": boxes, "classes": classes}

    return convert
