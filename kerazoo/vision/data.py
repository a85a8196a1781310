"""Data for the dense tasks: the generated Fashion-MNIST scenes, the user's own annotated images (COCO, VOC, image
and mask folders) or a real benchmark by its tensorflow-datasets name.

Every source gives the same batches, so a head trains on any of them unchanged:
    images: float32 raw pixels [B, H, W, C] (0-255);
    localization: {"class": int32 [B], "box": float32 [B, 4]};
    segmentation: int32 [B, H, W] (0 = background, class + 1);
    detection: {"boxes": float32 [B, M, 4], "classes": int32 [B, M]}; instance adds "masks" [B, M, H, W].
Boxes are Keras ``"xyxy"`` absolute pixels, padded with -1 (see ``kerazoo.datasets.scenes``).

    from kerazoo.vision.data import load_dense
    ds = load_dense("fashion_mnist_scenes", "train", "segmentation", batch_size=32)
    ds = load_dense("coco:/data/shapes", "train", "instance", image_size=(240, 320), resize="letterbox")
    ds = load_dense("voc/2007", "validation", "detection", image_size=320, data_dir="/data/tfds")

Images of any size are brought to the model's ``image_size`` (H, W) by ``resize``: ``letterbox`` (default: scaled to
fit, aspect ratio kept, centred, padded with 0) or ``stretch``; boxes are scaled and shifted with them, masks resized
nearest (``kerazoo.datasets.dense.placement``; ``to_original_boxes`` inverts it for predictions). The scenes keep
their own canvas. Real benchmarks (``TFDS_SOURCES``) are read with ``download=False``: prepare them once elsewhere
with ``tfds build``. Folders (``coco:DIR``, ``voc:DIR``, ``masks:DIR``) are read by ``kerazoo.datasets.dense``, their
annotations checked before the pipeline starts.
"""

from __future__ import annotations

import itertools

import numpy as np

from kerazoo.datasets import dense, scenes

__all__ = ["load_dense", "original_examples", "dense_info", "image_size_of", "graph_placement", "place_images",
           "TFDS_SOURCES", "DEFAULT_IMAGE_SIZE"]

TFDS_SOURCES = {
    "coco/2017": ("detection",),  # tfds' coco/2017 has boxes but no instance masks
    "voc/2012": ("detection",),
    "voc/2007": ("detection",),
    "scene_parse150": ("segmentation",),  # ADE20K's 150-class scene parsing benchmark
}
"""tensorflow-datasets names kerazoo maps to the dense format, and the tasks each can feed."""
DEFAULT_IMAGE_SIZE = (320, 320)
"""(H, W) that images of datasets without a fixed size are brought to when ``model.input_size`` is not set."""
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def image_size_of(size) -> tuple:
    """(H, W) of an image size given as one side, (H, W) or None (``DEFAULT_IMAGE_SIZE``)."""
    if size is None:
        return DEFAULT_IMAGE_SIZE
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                                 for v in pair):
        raise ValueError(f"Invalid image size: expected a positive integer or [height, width]. Received: {size!r}")
    return int(pair[0]), int(pair[1])


def dense_info(dataset: str, *, data_dir=None, image_size=None):
    """``DatasetInfo`` of a dense dataset: the scenes' own, or the classes of a folder or tfds builder with the
    model's image shape ``image_size`` (H, W, 3); a folder's mean and std are its training images'
    (``kerazoo.datasets.dense.pixel_stats``), a tfds dataset's ImageNet's."""
    from kerazoo import datasets

    if dataset == scenes.NAME:
        return datasets.info(dataset, data_dir=data_dir)
    height, width = image_size_of(image_size)
    if dense.is_dense_path(dataset):
        source = dense.open_source(dataset)
        mean, std = dense.pixel_stats(source)  # the folder's own, not ImageNet's: see pixel_stats
        return datasets.DatasetInfo(
            name=dataset, image_shape=(height, width, 3), num_classes=len(source.class_names),
            class_names=source.class_names, mean=mean, std=std, source=source.format,
            splits={k: len(v) for k, v in source.splits.items()})
    builder = _builder(dataset, TFDS_SOURCES.get(dataset, ("detection",))[0], data_dir)
    if "objects" in builder.info.features:
        names = tuple(builder.info.features["objects"]["label"].names)
    else:
        names = tuple(str(i) for i in range(1, 151))
    return datasets.DatasetInfo(
        name=dataset, image_shape=(height, width, 3), num_classes=len(names), class_names=names,
        mean=IMAGENET_MEAN, std=IMAGENET_STD, source="tfds",
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
    image_size=None,
    resize: str = "letterbox",
    max_objects: int = 100,
    stream: bool = False,
    stream_start: int = 0,
    **scene_options,
):
    """A batched ``tf.data.Dataset`` of (raw pixels, the task's targets) from the scenes, a folder or tfds.

    Args:
        dataset: ``fashion_mnist_scenes``, ``coco:DIR``, ``voc:DIR``, ``masks:DIR`` or a name in ``TFDS_SOURCES``.
        split: the split (``train``, ``val``, ``test``; slices such as ``train[:80%]``; tfds splits such as
            ``validation``).
        task: ``localization``, ``segmentation``, ``detection`` or ``instance``.
        batch_size, data_dir, shuffle, seed: as in ``kerazoo.datasets.load``.
        limit: for the scenes, the number of scenes (``count``); otherwise the first ``limit`` examples.
        image_size: not the scenes: the model's (H, W) (or one side); default ``DEFAULT_IMAGE_SIZE``.
        resize: not the scenes: ``letterbox`` or ``stretch`` (``kerazoo.datasets.dense.RESIZE_POLICIES``).
        max_objects: not the scenes: boxes per image kept (the rest dropped), padding the others with -1; a folder
            pads to the most objects one of its images has, when fewer.
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
    size = image_size_of(image_size)
    dense.placement(1, 1, size, resize)  # checks the policy before anything is read
    if dense.is_dense_path(dataset):
        ds, max_objects = _load_folder(dataset, split, task, shuffle=shuffle, seed=seed, limit=limit,
                                       max_objects=max_objects)
    else:
        ds = _load_tfds(dataset, split, task, data_dir=data_dir, shuffle=shuffle, seed=seed, limit=limit)
    import tensorflow as tf

    ds = ds.map(_fit_example(size, resize, task, max_objects), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def original_examples(dataset: str, split: str, task: str, *, data_dir=None, limit: int | None = None):
    """The examples of a folder or tfds dataset at each image's own size, in order (what evaluation scores
    predictions mapped back to the original image against): dicts of the dense schema (``image`` uint8 [h, w, 3],
    ``boxes`` "xyxy" original pixels, ``labels``, ``crowd``; ``masks`` for ``instance``, ``semantic`` for
    ``segmentation``). ``limit``: the first examples only, as ``load_dense``'s. Not the scenes (their own size is
    the model's: ``load_dense`` is it)."""
    if dataset == scenes.NAME:
        raise ValueError(f"Invalid dataset {dataset!r} for original_examples: the scenes have the model's size; "
                         f"use load_dense.")
    if dense.is_dense_path(dataset):
        source = dense.open_source(dataset)
        if task not in source.tasks():
            raise ValueError(f"Dataset {dataset!r} has no {task!r} labels: it feeds {list(source.tasks())}.")
        records = dense.split_records(source, split, task)
        if task == "localization":  # as _load_folder: images without an object have no class to learn
            records = [r for r in records if not r.crowd.all()]
        for record in records[:limit]:
            yield dense.read_example(record, source)
        return
    ds = _load_tfds(dataset, split, task, data_dir=data_dir, shuffle=False, seed=0, limit=limit)
    for example in ds.as_numpy_iterator():
        yield example


def _load_folder(dataset, split, task, *, shuffle, seed, limit, max_objects):
    """(unbatched tf.data of original-size examples, objects per image) of a ``PREFIX:DIR`` folder."""
    import tensorflow as tf

    source = dense.open_source(dataset)
    if task not in source.tasks():
        raise ValueError(f"Dataset {dataset!r} has no {task!r} labels: it feeds {list(source.tasks())}.")
    records = dense.split_records(source, split, task)
    if task == "localization":  # images without an object have no class to learn
        records = [r for r in records if not r.crowd.all()]
    records = records[:limit]
    if not records:
        raise ValueError(f"Split {split!r} of {dataset!r} is empty.")
    most = max(int((~r.crowd).sum()) for splits in source.splits.values() for r in splits)  # crowds: no boxes
    max_objects = max(1, min(max_objects, most))
    keys = {"image": ((None, None, 3), tf.uint8), "boxes": ((None, 4), tf.float32), "labels": ((None,), tf.int32),
            "crowd": ((None,), tf.bool)}
    if task == "instance":
        keys["masks"] = ((None, None, None), tf.bool)
    if task == "segmentation":
        keys["semantic"] = ((None, None), tf.uint8)
    epochs = itertools.count()
    shuffle = split.startswith("train") if shuffle is None else shuffle

    def examples():
        order = np.arange(len(records))
        if shuffle:  # a new order every epoch, the same on every run of the seed
            order = np.random.default_rng([seed, next(epochs)]).permutation(len(records))
        for index in order:
            example = dense.read_example(records[index], source)
            yield {key: example[key] for key in keys}

    signature = {key: tf.TensorSpec(shape, dtype) for key, (shape, dtype) in keys.items()}
    ds = tf.data.Dataset.from_generator(examples, output_signature=signature)
    # a known length: the training service takes steps_per_epoch (and the schedules) from it
    return ds.apply(tf.data.experimental.assert_cardinality(len(records))), max_objects


def _builder(dataset: str, task: str, data_dir):
    import difflib

    import tensorflow_datasets as tfds

    if dataset not in TFDS_SOURCES:
        known = [scenes.NAME, *TFDS_SOURCES, *(f + ":DIR" for f in dense.FORMATS)]
        close = difflib.get_close_matches(dataset, known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Invalid dataset for dense tasks: expected one of {known}. Received: {dataset!r}.{hint}")
    tasks = TFDS_SOURCES[dataset]
    if task not in tasks:
        raise ValueError(f"Dataset {dataset!r} has no {task!r} labels: it feeds {list(tasks)}.")
    return tfds.builder(dataset, data_dir=data_dir)


def _load_tfds(dataset, split, task, *, data_dir, shuffle, seed, limit):
    """Unbatched tf.data of original-size examples in the folders' schema (``kerazoo.datasets.dense``)."""
    import tensorflow as tf

    from kerazoo.datasets import tfds_split  # the "not prepared" error that says what to do

    builder = _builder(dataset, task, data_dir)
    try:
        ds = builder.as_dataset(split=split)
    except (AssertionError, FileNotFoundError):
        tfds_split(builder, split)  # raises the explanatory FileNotFoundError
        raise
    if limit is not None:
        ds = ds.take(limit)
    if split.startswith("train") if shuffle is None else shuffle:
        ds = ds.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    convert = _tfds_segmentation if task == "segmentation" else _tfds_detection(dataset)
    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)


def _tfds_segmentation(example):
    import tensorflow as tf

    # scene_parse150 stores the class id (0 = other/background) in every channel of the annotation image.
    return {"image": tf.cast(example["image"], tf.uint8), "semantic": tf.cast(example["annotation"][..., 0], tf.uint8),
            "boxes": tf.zeros((0, 4)), "labels": tf.zeros((0,), tf.int32), "crowd": tf.zeros((0,), tf.bool)}


def _tfds_detection(dataset):
    import tensorflow as tf

    def convert(example):
        image = example["image"]
        objects = example["objects"]
        size = tf.cast(tf.shape(image)[:2], tf.float32)
        # tfds boxes are normalized [ymin, xmin, ymax, xmax]; kerazoo uses absolute "xyxy".
        ymin, xmin, ymax, xmax = tf.unstack(tf.reshape(objects["bbox"], (-1, 4)), axis=-1)
        boxes = tf.stack([xmin * size[1], ymin * size[0], xmax * size[1], ymax * size[0]], axis=-1)
        checks = [
            tf.debugging.assert_greater_equal(boxes[:, 2:], boxes[:, :2], message=(
                f"Invalid boxes in {dataset}: expected 'xyxy' boxes with x1 <= x2 and y1 <= y2")),
            tf.debugging.assert_greater_equal(boxes, 0.0, message=(
                f"Invalid boxes in {dataset}: expected boxes inside the image (coordinates >= 0)")),
            tf.debugging.assert_less_equal(tf.reshape(objects["bbox"], (-1, 4)), 1.0, message=(
                f"Invalid boxes in {dataset}: expected boxes inside the image (normalized coordinates <= 1)")),
        ]
        with tf.control_dependencies(checks):
            boxes = tf.identity(boxes)
        crowd = objects["is_crowd"] if "is_crowd" in objects else tf.zeros_like(objects["label"], tf.bool)
        return {"image": tf.cast(image, tf.uint8), "boxes": boxes, "labels": tf.cast(objects["label"], tf.int32),
                "crowd": tf.cast(crowd, tf.bool)}

    return convert


def graph_placement(height, width, size, policy: str = "letterbox"):
    """``kerazoo.datasets.dense.placement`` in TensorFlow ops, for sizes known only when the graph runs:
    (new height, new width, top, left) as int32 tensors."""
    import tensorflow as tf

    target_h, target_w = size
    if policy == "stretch":
        return tf.constant(target_h), tf.constant(target_w), tf.constant(0), tf.constant(0)
    height, width = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    scale = tf.minimum(target_h / height, target_w / width)
    new_h = tf.clip_by_value(tf.cast(tf.floor(height * scale + 0.5), tf.int32), 1, target_h)
    new_w = tf.clip_by_value(tf.cast(tf.floor(width * scale + 0.5), tf.int32), 1, target_w)
    return new_h, new_w, (target_h - new_h) // 2, (target_w - new_w) // 2


def place_images(images, size, policy: str = "letterbox"):
    """A batch of same-sized raw-pixel ``images`` [B, h, w, C] brought to the model's ``size`` as the loader does
    (bilinear): (placed [B, H, W, C], (new height, new width, top, left))."""
    import tensorflow as tf

    shape = tf.shape(images)
    place = graph_placement(shape[1], shape[2], size, policy)
    resized = tf.image.resize(tf.cast(images, tf.float32), tf.stack(place[:2]), method="bilinear")
    placed = tf.image.pad_to_bounding_box(resized, place[2], place[3], *size)
    return tf.ensure_shape(placed, (None, *size, None)), place


def _fit_example(size, policy, task, max_objects):
    """Maps an original-size example to the model's ``size``: (float32 pixels [H, W, 3], the task's targets)."""
    import tensorflow as tf

    target_h, target_w = size

    def fit(example):
        image = example["image"]
        shape = tf.shape(image)
        new_h, new_w, top, left = graph_placement(shape[0], shape[1], size, policy)

        def place(pixels, method):
            resized = tf.image.resize(pixels, tf.stack([new_h, new_w]), method=method)
            return tf.image.pad_to_bounding_box(resized, top, left, target_h, target_w)

        pixels = place(tf.cast(image, tf.float32), "bilinear")
        pixels.set_shape((target_h, target_w, 3))
        if task == "segmentation":
            semantic = place(tf.cast(example["semantic"], tf.int32)[..., None], "nearest")[..., 0]
            return pixels, tf.ensure_shape(tf.cast(semantic, tf.int32), (target_h, target_w))
        scale = tf.cast(tf.stack([new_w / shape[1], new_h / shape[0]] * 2), tf.float32)
        shift = tf.cast(tf.stack([left, top] * 2), tf.float32)
        boxes = example["boxes"] * scale + shift
        keep = tf.logical_not(example["crowd"])  # crowd regions are neither objects to find nor background
        boxes = tf.boolean_mask(boxes, keep)[:max_objects]
        labels = tf.boolean_mask(example["labels"], keep)[:max_objects]
        pad = max_objects - tf.shape(labels)[0]
        if task == "localization":
            first = tf.concat([boxes, -tf.ones((1, 4))], 0)[0]
            return pixels, {"class": tf.concat([labels, [-1]], 0)[0], "box": tf.ensure_shape(first, (4,))}
        targets = {"boxes": tf.ensure_shape(tf.pad(boxes, [[0, pad], [0, 0]], constant_values=-1.0), (max_objects, 4)),
                   "classes": tf.ensure_shape(tf.pad(labels, [[0, pad]], constant_values=-1), (max_objects,))}
        if task == "instance":
            masks = tf.boolean_mask(example["masks"], keep)[:max_objects]
            masks = place(tf.cast(tf.transpose(masks, [1, 2, 0]), tf.uint8), "nearest")  # [H, W, n]
            masks = tf.pad(tf.transpose(masks, [2, 0, 1]) > 0, [[0, pad], [0, 0], [0, 0]])
            targets["masks"] = tf.ensure_shape(masks, (max_objects, target_h, target_w))
        return pixels, targets

    return fit
