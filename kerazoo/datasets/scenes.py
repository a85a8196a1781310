"""Fashion-MNIST scenes: a deterministic, offline dataset for localization, segmentation and detection.

Each scene is a canvas (96x96 by default) with 0-6 Fashion-MNIST items pasted at random positions and scales, with
occlusion (a later item covers an earlier one; every item keeps at least half of its pixels visible). The item pixels
give the labels for free: boxes, classes, a semantic mask and one instance mask per item. Scenes of the ``test``
split use only Fashion-MNIST's test items, so test scenes are truly held out.

    from kerazoo.datasets.scenes import make_scenes, load_scenes
    scenes = make_scenes("train", 1000, seed=0)          # NumPy arrays (a frozen dataclass)
    ds = load_scenes("train", "segmentation", batch_size=32)   # tf.data: (image, semantic mask)

Conventions: boxes are Keras ``"xyxy"`` absolute pixels (``keras.utils.bounding_boxes``), x2/y2 exclusive, so a box
encloses exactly the item's non-zero pixels; padding is -1 in boxes and classes.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, fields

import numpy as np

__all__ = ["Scenes", "make_scenes", "stream_scenes", "load_scenes", "scenes_info", "check_boxes", "SCENE_TASKS",
           "DEFAULT_COUNTS"]

NAME = "fashion_mnist_scenes"
SCENE_TASKS = ("localization", "segmentation", "detection", "instance")
DEFAULT_COUNTS = {"train": 6000, "test": 1000}
"""Scenes per split when ``count`` is not given (split slices such as ``train[:90%]`` use the train count)."""
ITEM_THRESHOLD = 10
"""Item pixels darker than this count as background (Fashion-MNIST items have faint specks around them)."""
MIN_VISIBLE = 0.5
"""Each pasted item keeps at least this fraction of its pixels visible after later items cover it."""
PLACEMENT_TRIES = 30
MAX_OBJECTS = 127
"""Most items a scene can hold: ``Scenes.owners`` is int8."""
CANVAS, OBJECTS, SCALE_RANGE = 96, 6, (0.6, 1.4)
"""The default layout: canvas side in pixels, most items a scene holds, range of the items' scale factors."""


@dataclass(frozen=True)
class Scenes:
    """A batch of scenes as NumPy arrays (N scenes, M = max_objects, canvas side S).

    Attributes:
        images: uint8 [N, S, S, 1].
        boxes: float32 [N, M, 4], "xyxy" absolute pixels (x2, y2 exclusive), -1 padded.
        classes: int32 [N, M], Fashion-MNIST class ids, -1 padded.
        num_objects: int32 [N].
        owners: int8 [N, S, S]: which item (0..M-1) each pixel shows, -1 for background. The masks below are
            derived from it: stored, they would take 1 + M times its memory (the scene pools of long runs are big).
        item_indices: int32 [N, M]: index of each item in the Fashion-MNIST split it came from, -1 padded.
    """

    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    num_objects: np.ndarray
    owners: np.ndarray
    item_indices: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def semantic(self) -> np.ndarray:
        """uint8 [N, S, S]: 0 = background, class + 1 where an item is visible."""
        semantic = np.zeros(self.owners.shape, np.uint8)
        for k in range(self.classes.shape[1]):  # a byte a pixel at a time: pools of 100,000 scenes are big
            semantic += (self.owners == k) * (self.classes[:, k] + 1).astype(np.uint8)[:, None, None]
        return semantic

    @property
    def instances(self) -> np.ndarray:
        """bool [N, M, S, S]: the visible pixels of each item."""
        return self.owners[:, None] == np.arange(self.classes.shape[1], dtype=np.int8)[None, :, None, None]


def _check_args(count, canvas, max_objects, min_objects, scale_range):
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"Invalid count: expected a non-negative integer. Received: count={count!r}")
    if not isinstance(max_objects, (int, np.integer)) or not 1 <= max_objects <= MAX_OBJECTS:
        raise ValueError(f"Invalid max_objects: expected an integer in [1, {MAX_OBJECTS}]. "
                         f"Received: max_objects={max_objects!r}")
    if not isinstance(min_objects, (int, np.integer)) or not 0 <= min_objects <= max_objects:
        raise ValueError(
            f"Invalid min_objects: expected an integer in [0, max_objects={max_objects}]. "
            f"Received: min_objects={min_objects!r}"
        )
    low, high = scale_range
    if not 0 < low <= high:
        raise ValueError(
            f"Invalid scale_range: expected (low, high) with 0 < low <= high. Received: scale_range={scale_range!r}"
        )
    largest = int(round(28 * high))
    if canvas < largest:
        raise ValueError(
            f"Invalid canvas: expected at least {largest} pixels, the largest item at scale {high}. "
            f"Received: canvas={canvas!r}"
        )


def _scaled_item(image: np.ndarray, scale: float) -> np.ndarray:
    """The item resized by ``scale`` (bilinear), specks below ``ITEM_THRESHOLD`` zeroed, cropped to its pixels."""
    from skimage.transform import resize

    side = max(1, int(round(image.shape[0] * scale)))
    item = resize(image.astype(np.float32), (side, side), order=1, preserve_range=True, anti_aliasing=scale < 1)
    item = np.clip(np.round(item), 0, 255).astype(np.uint8)
    item[item < ITEM_THRESHOLD] = 0
    rows, cols = np.flatnonzero(item.any(axis=1)), np.flatnonzero(item.any(axis=0))
    if len(rows) == 0:
        return item[:0, :0]
    return item[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _compose(rng, items, labels, count_objects, canvas, scale_range):
    """One scene: pastes up to ``count_objects`` random items, keeping every earlier item mostly visible."""
    image = np.zeros((canvas, canvas), np.uint8)
    owner = np.full((canvas, canvas), -1, np.int32)  # which pasted item each pixel shows
    placed = []  # (item index, class, box, pixel count)
    for _ in range(count_objects * PLACEMENT_TRIES):  # bounded: a split of blank items cannot loop forever
        if len(placed) == count_objects:
            break
        index = int(rng.integers(len(items)))
        item = _scaled_item(items[index], float(rng.uniform(*scale_range)))
        if item.size == 0:
            continue
        height, width = item.shape
        mask = item > 0
        shown = np.bincount(owner[owner >= 0], minlength=len(placed))
        for _ in range(PLACEMENT_TRIES):
            y, x = int(rng.integers(canvas - height + 1)), int(rng.integers(canvas - width + 1))
            covered = owner[y : y + height, x : x + width][mask]
            lost = np.bincount(covered[covered >= 0], minlength=len(placed))
            if all(shown[k] - lost[k] >= MIN_VISIBLE * placed[k][3] for k in range(len(placed))):
                break
        else:
            break  # the canvas is too crowded for another item
        window = (slice(y, y + height), slice(x, x + width))
        image[window][mask] = item[mask]
        owner[window][mask] = len(placed)
        placed.append((index, int(labels[index]), (x, y, x + width, y + height), int(mask.sum())))
    return image, owner, placed


def make_scenes(
    split: str,
    count: int,
    *,
    canvas: int = CANVAS,
    max_objects: int = OBJECTS,
    min_objects: int = 0,
    scale_range=SCALE_RANGE,
    seed: int = 0,
    data_dir=None,
) -> Scenes:
    """Generates ``count`` scenes from the Fashion-MNIST items of ``split``; the same arguments give the same scenes.

    Args:
        split: Fashion-MNIST split the items come from: ``train``, ``test`` or a slice such as ``train[:50000]``.
        count: number of scenes.
        canvas: side of the square canvas in pixels.
        max_objects: most items per scene (also the padded length of boxes/classes/instances).
        min_objects: fewest items per scene; the number is uniform in [min_objects, max_objects].
        scale_range: (low, high): each item is resized by a factor drawn uniformly from it (items are 28x28).
        seed: seed of every random choice.
        data_dir: where the Fashion-MNIST IDX files are (see ``kerazoo.datasets``).
    """
    _check_args(count, canvas, max_objects, min_objects, tuple(scale_range))
    items, labels = _items(split, data_dir)
    return _generate(_rng(seed, split), items, labels, count, canvas, max_objects, min_objects, scale_range)


def stream_scenes(split: str, *, start: int = 0, chunk: int = 256, seed: int = 0, data_dir=None, **layout):
    """Endless iterator of new scenes, ``chunk`` at a time: for schedules longer than any pool kept in memory.

    Chunk k has its own seed (``seed``, split, k), so the stream is the same on every run; it never repeats
    ``make_scenes``' scenes of the same seed. ``start``: the stream's scenes are numbered from 0 and it begins at
    this one (the first chunk is cut), so a second run can go on where a first one stopped, on new scenes.
    ``layout`` (``canvas``, ``max_objects``, ``min_objects``, ``scale_range``), ``seed`` and ``data_dir`` are
    :func:`make_scenes`' arguments, with its defaults.
    """
    layout = {"canvas": CANVAS, "max_objects": OBJECTS, "min_objects": 0, "scale_range": SCALE_RANGE, **layout}
    for name, value, least in (("chunk", chunk, 1), ("start", start, 0)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"Invalid {name}: expected an integer >= {least}. Received: {name}={value!r}")
    _check_args(chunk, **layout)
    items, labels = _items(split, data_dir)
    first, cut = divmod(start, chunk)
    for k in itertools.count(first + 1):  # chunk 0 would be make_scenes' own seed
        scenes = _generate(_rng(seed, split, k), items, labels, chunk, **layout)
        if cut:
            scenes, cut = Scenes(*(getattr(scenes, f.name)[cut:] for f in fields(Scenes))), 0
        yield scenes


def _rng(seed, split, *chunk):
    """The generator of a split's scenes (train and test items never share one); ``chunk``: a stream's chunk k."""
    return np.random.default_rng([seed, 1 if split.startswith("test") else 0, *chunk])


def _items(split, data_dir):
    from kerazoo.datasets import load_arrays

    items, labels = load_arrays("fashion_mnist", split, data_dir=data_dir)
    if len(items) == 0:
        raise ValueError(f"Split {split!r} of 'fashion_mnist' is empty: no items to place.")
    return items[..., 0], labels


def _blank(count, canvas, max_objects) -> Scenes:
    """``count`` empty scenes (all padding): the arrays ``_generate`` fills."""
    return Scenes(
        images=np.zeros((count, canvas, canvas, 1), np.uint8),
        boxes=np.full((count, max_objects, 4), -1, np.float32),
        classes=np.full((count, max_objects), -1, np.int32),
        num_objects=np.zeros((count,), np.int32),
        owners=np.full((count, canvas, canvas), -1, np.int8),
        item_indices=np.full((count, max_objects), -1, np.int32),
    )


def _generate(rng, items, labels, count, canvas, max_objects, min_objects, scale_range) -> Scenes:
    scenes = _blank(count, canvas, max_objects)
    for n in range(count):
        wanted = int(rng.integers(min_objects, max_objects + 1))
        image, owner, placed = _compose(rng, items, labels, wanted, canvas, scale_range)
        scenes.images[n, ..., 0] = image
        scenes.num_objects[n] = len(placed)
        scenes.owners[n] = owner
        for k, (index, label, box, _) in enumerate(placed):
            scenes.boxes[n, k] = box
            scenes.classes[n, k] = label
            scenes.item_indices[n, k] = index
    return scenes


def check_boxes(boxes, image_shape, *, where: str = "dataset") -> None:
    """Raises ValueError when a real (non-padding) "xyxy" box lies outside the image or has x2 < x1 or y2 < y1.

    Padding rows (all -1) are ignored. ``image_shape`` is (height, width[, channels]).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    boxes = boxes[~np.all(boxes == -1, axis=-1)]
    height, width = image_shape[0], image_shape[1]
    flipped = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if flipped.any():
        raise ValueError(
            f"Invalid boxes in {where}: expected 'xyxy' boxes with x1 <= x2 and y1 <= y2. "
            f"Received: box={boxes[flipped][0].tolist()}"
        )
    outside = (boxes[:, :2] < 0).any(axis=-1) | (boxes[:, 2] > width) | (boxes[:, 3] > height)
    if outside.any():
        raise ValueError(
            f"Invalid boxes in {where}: expected boxes inside the {height}x{width} image. "
            f"Received: box={boxes[outside][0].tolist()}"
        )


@functools.lru_cache(maxsize=4)
def _cached_scenes(split, count, canvas, max_objects, min_objects, scale_range, seed, data_dir) -> Scenes:
    return make_scenes(split, count, canvas=canvas, max_objects=max_objects, min_objects=min_objects,
                       scale_range=scale_range, seed=seed, data_dir=data_dir)


def _task_arrays(scenes: Scenes, task: str):
    """(inputs, targets) of a task as compact NumPy arrays (uint8 pixels and masks; the pipeline casts each batch)."""
    if task == "localization":
        return scenes.images, {"class": scenes.classes[:, 0], "box": scenes.boxes[:, 0]}
    if task == "segmentation":
        return scenes.images, scenes.semantic
    targets = {"boxes": scenes.boxes, "classes": scenes.classes}
    if task == "instance":
        targets["masks"] = scenes.instances
    return scenes.images, targets


def _as_model_dtypes(images, targets):
    """float32 raw pixels; int32 semantic masks (the rest keeps its dtype)."""
    import tensorflow as tf

    if not isinstance(targets, dict):
        targets = tf.cast(targets, tf.int32)
    return tf.cast(images, tf.float32), targets


def load_scenes(
    split: str,
    task: str,
    *,
    batch_size: int = 32,
    count: int | None = None,
    canvas: int = CANVAS,
    max_objects: int = OBJECTS,
    min_objects: int | None = None,
    scale_range=SCALE_RANGE,
    seed: int = 0,
    data_dir=None,
    shuffle: bool | None = None,
    drop_remainder: bool = False,
    stream: bool = False,
    stream_start: int = 0,
):
    """Scenes as a batched ``tf.data.Dataset`` of (float32 raw pixels [B, S, S, 1], the task's targets).

    Tasks:
        ``localization``: single-object scenes; targets {"class": int32 [B], "box": float32 [B, 4] "xyxy"}.
        ``segmentation``: targets int32 [B, S, S] semantic masks (0 = background, class + 1).
        ``detection``: targets {"boxes": float32 [B, M, 4] "xyxy", "classes": int32 [B, M]}, -1 padded.
        ``instance``: detection targets plus "masks": bool [B, M, S, S].

    ``count`` defaults to ``DEFAULT_COUNTS`` of the split's base ("train" or "test"); ``min_objects`` defaults to 1
    for localization (where it is also the maximum) and 0 otherwise. Generated scenes are cached per argument set.
    ``stream=True`` yields new scenes without end instead (:func:`stream_scenes`; no ``count``, no cache, nothing
    to shuffle): a long schedule sees no scene twice in constant memory; ``stream_start``: its first scene.
    """
    import tensorflow as tf

    if task not in SCENE_TASKS:
        raise ValueError(f"Invalid task: expected one of {list(SCENE_TASKS)}. Received: task={task!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Invalid batch_size: expected a positive integer. Received: batch_size={batch_size!r}")
    if task == "localization":
        max_objects, min_objects = 1, 1
    min_objects = 0 if min_objects is None else min_objects
    if stream:
        if count is not None:
            raise ValueError(f"Invalid count={count!r} with stream=True: a stream of scenes has no end.")
        ds = _scene_stream(split, task, canvas=canvas, max_objects=max_objects, min_objects=min_objects,
                           scale_range=tuple(scale_range), seed=seed, data_dir=data_dir, start=stream_start)
    else:
        count = DEFAULT_COUNTS["test" if split.startswith("test") else "train"] if count is None else count
        scenes = _cached_scenes(split, count, canvas, max_objects, min_objects, tuple(scale_range), seed, data_dir)
        ds = tf.data.Dataset.from_tensor_slices(_task_arrays(scenes, task))
        if split.startswith("train") if shuffle is None else shuffle:
            ds = ds.shuffle(len(scenes), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(_as_model_dtypes, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _scene_stream(split, task, **options):
    """``stream_scenes`` as an unbatched ``tf.data.Dataset`` of the task's arrays (generated in tf.data's thread)."""
    import tensorflow as tf

    first = _task_arrays(_blank(0, options["canvas"], options["max_objects"]), task)  # shapes and dtypes only
    signature = tf.nest.map_structure(lambda a: tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)), first)

    def chunks():
        for scenes in stream_scenes(split, **options):
            yield _task_arrays(scenes, task)

    return tf.data.Dataset.from_generator(chunks, output_signature=signature).unbatch()


@functools.lru_cache(maxsize=4)
def scenes_info(data_dir=None):
    """``DatasetInfo`` of "fashion_mnist_scenes": 96x96x1 canvases, 10 classes, mean/std of 256 training scenes."""
    from kerazoo.datasets import FASHION_CLASSES, DatasetInfo

    sample = _cached_scenes("train", 256, CANVAS, OBJECTS, 0, SCALE_RANGE, 0, data_dir).images / 255.0
    return DatasetInfo(
        name=NAME, image_shape=(CANVAS, CANVAS, 1), num_classes=10, class_names=FASHION_CLASSES,
        mean=(float(sample.mean()),), std=(float(sample.std()),), source="generated", splits=dict(DEFAULT_COUNTS),
    )
