"""The scene generator: exact boxes, masks that agree with the pixels, determinism, held-out test items."""

import numpy as np
import pytest

from kerazoo import datasets
from kerazoo.datasets.scenes import check_boxes, load_scenes, make_scenes, stream_scenes


@pytest.fixture(scope="module")
def scenes(idx_data_dir):
    return make_scenes("train", 24, canvas=64, max_objects=4, min_objects=1, seed=3, data_dir=idx_data_dir)


def test_shapes_and_padding(scenes):
    n, m, s = 24, 4, 64
    assert scenes.images.shape == (n, s, s, 1) and scenes.images.dtype == np.uint8
    assert scenes.boxes.shape == (n, m, 4) and scenes.boxes.dtype == np.float32
    assert scenes.classes.shape == (n, m) and scenes.classes.dtype == np.int32
    assert scenes.semantic.shape == (n, s, s) and scenes.instances.shape == (n, m, s, s)
    assert scenes.owners.dtype == np.int8 and scenes.owners.min() == -1  # one byte a pixel; masks are derived
    assert scenes.num_objects.min() >= 1 and scenes.num_objects.max() <= m
    for i, count in enumerate(scenes.num_objects):
        assert (scenes.classes[i, :count] >= 0).all() and (scenes.classes[i, count:] == -1).all()
        assert (scenes.boxes[i, count:] == -1).all() and not scenes.instances[i, count:].any()


def test_boxes_enclose_exactly_the_item_pixels(idx_data_dir):
    # One item per scene: the box is the bounding box of the image's non-zero pixels, edges exclusive.
    single = make_scenes("test", 16, canvas=48, max_objects=1, min_objects=1, data_dir=idx_data_dir)
    for image, box in zip(single.images[..., 0], single.boxes[:, 0]):
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        assert box.tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


def test_masks_agree_with_pixels_and_boxes(scenes):
    for i, count in enumerate(scenes.num_objects):
        visible = scenes.instances[i, :count]
        # Every non-zero pixel belongs to exactly one visible item, and nothing else does.
        np.testing.assert_array_equal(visible.sum(axis=0), scenes.images[i, ..., 0] > 0)
        expected = np.zeros_like(scenes.semantic[i])
        for k in range(count):
            x1, y1, x2, y2 = scenes.boxes[i, k].astype(int)
            ys, xs = np.nonzero(visible[k])
            assert len(ys) > 0 and ys.min() >= y1 and ys.max() < y2 and xs.min() >= x1 and xs.max() < x2
            expected[visible[k]] = scenes.classes[i, k] + 1
        np.testing.assert_array_equal(scenes.semantic[i], expected)


def test_deterministic_and_seeded(idx_data_dir):
    a = make_scenes("train", 6, canvas=64, seed=1, data_dir=idx_data_dir)
    b = make_scenes("train", 6, canvas=64, seed=1, data_dir=idx_data_dir)
    c = make_scenes("train", 6, canvas=64, seed=2, data_dir=idx_data_dir)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.images, c.images)


def test_train_and_test_scenes_use_only_their_split_items(idx_data_dir):
    train_items, _ = datasets.load_arrays("fashion_mnist", "train", data_dir=idx_data_dir)
    test_items, _ = datasets.load_arrays("fashion_mnist", "test", data_dir=idx_data_dir)
    for split, own, other in (("train", train_items, test_items), ("test", test_items, train_items)):
        # Scale 1: the pasted item is the original 28x28 item (the fixture's items have no dark border).
        scenes = make_scenes(split, 8, canvas=40, max_objects=1, min_objects=1, scale_range=(1, 1),
                             data_dir=idx_data_dir)
        for image, box in zip(scenes.images, scenes.boxes[:, 0].astype(int)):
            crop = image[box[1] : box[3], box[0] : box[2]]
            crop = np.where(crop >= 10, crop, 0)
            from_own = [np.array_equal(crop, np.where(item >= 10, item, 0)) for item in own]
            from_other = [np.array_equal(crop, np.where(item >= 10, item, 0)) for item in other]
            assert any(from_own) and not any(from_other)


def test_load_scenes_tasks(idx_data_dir):
    kw = dict(batch_size=4, count=8, canvas=48, data_dir=idx_data_dir)
    images, targets = next(iter(load_scenes("train", "localization", **kw)))
    assert images.shape == (4, 48, 48, 1) and images.dtype.name == "float32"
    assert targets["class"].shape == (4,) and targets["box"].shape == (4, 4)
    _, masks = next(iter(load_scenes("train", "segmentation", **kw)))
    assert masks.shape == (4, 48, 48) and masks.dtype.name == "int32"
    _, targets = next(iter(load_scenes("test", "instance", max_objects=3, **kw)))
    assert targets["boxes"].shape == (4, 3, 4) and targets["classes"].shape == (4, 3)
    assert targets["masks"].shape == (4, 3, 48, 48)


def test_stream_draws_new_scenes_the_same_on_every_run(idx_data_dir):
    kw = dict(chunk=4, canvas=48, max_objects=3, seed=5, data_dir=idx_data_dir)
    first, again = stream_scenes("train", **kw), stream_scenes("train", **kw)
    chunks = [next(first) for _ in range(3)]
    for chunk in chunks:
        np.testing.assert_array_equal(chunk.images, next(again).images)  # deterministic, chunk by chunk
    pool = make_scenes("train", 4, canvas=48, max_objects=3, seed=5, data_dir=idx_data_dir)
    images = [image.tobytes() for chunk in [pool, *chunks] for image in chunk.images if image.any()]
    assert len(set(images)) == len(images)  # no scene twice: not across chunks, not the pool's of the same seed
    for chunk in chunks:  # each chunk is made like make_scenes' scenes: masks agree with the pixels
        np.testing.assert_array_equal(chunk.owners >= 0, chunk.images[..., 0] > 0)


def test_stream_starts_at_any_scene(idx_data_dir):
    """A run that goes on where another stopped draws the stream's scenes from there: the same as the whole stream's."""
    kw = dict(chunk=4, canvas=48, max_objects=3, seed=5, data_dir=idx_data_dir)
    whole = stream_scenes("train", **kw)
    scenes = [next(whole) for _ in range(3)]
    images, owners = (np.concatenate([getattr(chunk, name) for chunk in scenes]) for name in ("images", "owners"))
    later = stream_scenes("train", start=6, **kw)  # in the middle of the second chunk
    first, second = next(later), next(later)
    assert len(first) == 2 and len(second) == 4
    np.testing.assert_array_equal(np.concatenate([first.images, second.images]), images[6:])
    np.testing.assert_array_equal(np.concatenate([first.owners, second.owners]), owners[6:])
    for start in (-1, 2.5):
        with pytest.raises(ValueError, match="Invalid start: expected an integer >= 0"):
            next(stream_scenes("train", start=start, **kw))


def test_load_scenes_stream_goes_on_past_any_count(idx_data_dir):
    ds = load_scenes("train", "detection", batch_size=5, canvas=48, max_objects=3, stream=True, data_dir=idx_data_dir)
    batches = list(ds.take(60))  # 300 scenes: more than the first 256-scene chunk
    assert len(batches) == 60 and all(images.shape == (5, 48, 48, 1) for images, _ in batches)
    assert batches[-1][1]["boxes"].shape == (5, 3, 4) and batches[-1][1]["classes"].dtype.name == "int32"
    _, masks = next(iter(load_scenes("test", "segmentation", batch_size=2, canvas=48, stream=True,
                                     data_dir=idx_data_dir)))
    assert masks.shape == (2, 48, 48) and masks.dtype.name == "int32"
    with pytest.raises(ValueError, match="stream of scenes has no end"):
        load_scenes("train", "detection", count=8, stream=True, data_dir=idx_data_dir)


def test_registered_dataset_info(idx_data_dir):
    meta = datasets.info("fashion_mnist_scenes", data_dir=idx_data_dir)
    assert meta.image_shape == (96, 96, 1) and meta.num_classes == 10 and len(meta.class_names) == 10
    with pytest.raises(ValueError, match="load_scenes"):
        datasets.load("fashion_mnist_scenes", "train", data_dir=idx_data_dir)


def test_bad_arguments_and_boxes(idx_data_dir):
    with pytest.raises(ValueError, match="canvas"):
        make_scenes("train", 2, canvas=30, data_dir=idx_data_dir)
    with pytest.raises(ValueError, match="min_objects"):
        make_scenes("train", 2, min_objects=7, data_dir=idx_data_dir)
    with pytest.raises(ValueError, match=r"Invalid max_objects: expected an integer in \[1, 127\]"):
        make_scenes("train", 2, max_objects=128, data_dir=idx_data_dir)
    with pytest.raises(ValueError, match="task"):
        load_scenes("train", "panoptic", data_dir=idx_data_dir)
    check_boxes([[0, 0, 10, 10], [-1, -1, -1, -1]], (10, 10))
    with pytest.raises(ValueError, match="x1 <= x2"):
        check_boxes([[5, 0, 2, 4]], (10, 10))
    with pytest.raises(ValueError, match="inside the 10x10 image"):
        check_boxes([[0, 0, 11, 4]], (10, 10))
