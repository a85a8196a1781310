"""The 1000 ImageNet-1k classes (WordNet id and short name, keras' order) and ``decode_predictions``.

``imagenet_classes.json`` ships with the package (from timm's synset and lemma lists: the sorted WordNet ids, keras'
and torchvision's class order, each named by its first lemma as keras names them), so nothing is downloaded.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np

__all__ = ["imagenet_classes", "decode_predictions"]


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """``(wordnet_id, name)`` of the 1000 classes, by class index."""
    with open(os.path.join(os.path.dirname(__file__), "imagenet_classes.json"), encoding="utf-8") as f:
        return tuple((wnid, name) for wnid, name in json.load(f))


def decode_predictions(preds, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Like keras' ``decode_predictions``: for each row of ``preds`` (batch, 1000), the ``top`` classes as
    ``(wordnet_id, name, score)``, best first."""
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"Invalid preds: expected a batch of 1000 ImageNet scores, shape (N, 1000). Received: shape={preds.shape}")
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 1000:
        raise ValueError(f"Invalid top: expected an integer in [1, 1000]. Received: top={top!r}")
    classes = imagenet_classes()
    results = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(*classes[i], float(row[i])) for i in best])
    return results
