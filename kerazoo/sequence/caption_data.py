"""Caption data: a word vocabulary, captions grounded in Fashion-MNIST scenes, and COCO Captions by tfds name.

    from kerazoo.sequence.caption_data import scene_caption_data, coco_caption_data
    data = scene_caption_data("train", 2000, seed=0)     # images + "a bag above a sandal and a shirt" ...
    data = coco_caption_data("train", limit=1000)         # tensorflow-datasets "coco_captions" (must be prepared)

Scene captions come from the scene's real boxes: the items are named top to bottom; the first two are related by
where their box centres lie ("above" when they differ more in height, else "left of" / "right of"), the rest are
joined with "and". Test scenes use only Fashion-MNIST test items (``kerazoo.datasets.scenes``), so they are held out.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PAD", "START", "END", "UNK", "SCENE_WORDS", "CaptionVocabulary", "CaptionData", "tokenize", "scene_caption",
    "scene_caption_data", "coco_caption_data",
]

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL = (PAD, START, END, UNK)  # PAD is id 0: the loss ignores it
SCENE_WORDS = ("top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
"""One word per Fashion-MNIST class (T-shirt/top, Trouser, ..., Ankle boot), in class order."""


def tokenize(caption: str) -> list[str]:
    """Lower-case words (letters, digits, apostrophes, hyphens); punctuation dropped."""
    return re.findall(r"[a-z0-9'-]+", caption.lower())


@dataclass(frozen=True)
class CaptionVocabulary:
    """Words in id order; ids 0-3 are ``<pad> <start> <end> <unk>``."""

    words: tuple

    @classmethod
    def from_captions(cls, captions, *, max_words: int | None = None) -> "CaptionVocabulary":
        """The (``max_words`` most) frequent words of ``captions``, ties broken alphabetically."""
        counts = Counter(word for caption in captions for word in tokenize(caption))
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[:max_words]
        return cls(SPECIAL + tuple(ranked))

    def __len__(self) -> int:
        return len(self.words)

    def id(self, word: str) -> int:
        return self._index().get(word, 3)

    def _index(self) -> dict:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, caption: str, max_length: int, *, truncate: bool = False) -> np.ndarray:
        """``<start> words <end> <pad>...`` as ``max_length + 1`` ids (decoder inputs are ``[:-1]``, targets ``[1:]``).

        A caption of more than ``max_length - 1`` words is a ValueError (the decoder has ``max_length`` steps),
        unless ``truncate``.
        """
        index = self._index()
        words = tokenize(caption)
        if len(words) > max_length - 1:
            if not truncate:
                raise ValueError(
                    f"Caption too long: {len(words)} words, but the model decodes at most max_length - 1 = "
                    f"{max_length - 1} words (plus <end>). Received: {caption!r}"
                )
            words = words[: max_length - 1]
        ids = [1] + [index.get(w, 3) for w in words] + [2]
        return np.array(ids + [0] * (max_length + 1 - len(ids)), dtype="int32")

    def decode(self, ids) -> list[str]:
        """Words up to the first ``<end>`` (``<start>`` and ``<pad>`` skipped)."""
        words = []
        for i in ids:
            i = int(i)
            if i == 2:
                break
            if i > 2:
                words.append(self.words[i])
        return words


@dataclass(frozen=True)
class CaptionData:
    """Images (N, H, W, C) uint8 and their reference captions (a list of strings per image).

    ``classes`` lists the classes of each image's objects when known (scenes), for the object-recall figure.
    """

    images: np.ndarray
    captions: list
    classes: list | None = None

    def first_captions(self) -> list[str]:
        return [refs[0] for refs in self.captions]


def _with_article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def scene_caption(classes, boxes, num_objects: int) -> str:
    """The caption of one scene from its classes and ``xyxy`` boxes (first ``num_objects`` entries are real)."""
    if num_objects == 0:
        return "an empty scene"
    centres = [((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0) for b in boxes[:num_objects]]
    order = sorted(range(num_objects), key=lambda k: (centres[k][1], centres[k][0]))
    names = [_with_article(SCENE_WORDS[int(classes[k])]) for k in order]
    if num_objects == 1:
        return names[0]
    (x0, y0), (x1, y1) = centres[order[0]], centres[order[1]]
    relation = "above" if abs(y1 - y0) >= abs(x1 - x0) else ("left of" if x0 < x1 else "right of")
    return " and ".join([f"{names[0]} {relation} {names[1]}", *names[2:]])


def scene_caption_data(split: str, count: int, *, canvas: int = 64, max_objects: int = 3, min_objects: int = 1,
                       scale_range=(0.6, 1.0), seed: int = 0, data_dir=None) -> CaptionData:
    """``count`` Fashion-MNIST scenes of ``split`` with their grounded captions (one reference each)."""
    from kerazoo.datasets.scenes import make_scenes

    scenes = make_scenes(split, count, canvas=canvas, max_objects=max_objects, min_objects=min_objects,
                         scale_range=scale_range, seed=seed, data_dir=data_dir)
    captions, classes = [], []
    for n in range(count):
        k = int(scenes.num_objects[n])
        captions.append([scene_caption(scenes.classes[n], scenes.boxes[n], k)])
        classes.append([int(c) for c in scenes.classes[n, :k]])
    return CaptionData(scenes.images, captions, classes)


def coco_caption_data(split: str = "train", *, image_size: int = 64, limit: int | None = None,
                      data_dir=None) -> CaptionData:
    """COCO Captions (``tfds.load("coco_captions")``, 5 references per image) resized to ``image_size`` squares.

    The dataset must already be prepared in ``data_dir`` (tensorflow-datasets' default folder when None): kerazoo
    never downloads. Tests run it under ``tfds.testing.mock_data``.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"Invalid image_size: expected an integer >= 8. Received: image_size={image_size!r}")
    ds = tfds.load("coco_captions", split=split, data_dir=data_dir, download=False)
    if limit is not None:
        ds = ds.take(limit)
    images, captions = [], []
    for example in ds:
        image = tf.image.resize(example["image"], (image_size, image_size), antialias=True)
        images.append(np.clip(np.round(image.numpy()), 0, 255).astype("uint8"))
        captions.append([text.decode("utf-8") for text in example["captions"]["text"].numpy()])
    if not images:
        raise ValueError(f"coco_captions split {split!r} has no examples.")
    return CaptionData(np.stack(images), captions)
