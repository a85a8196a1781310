"""Feature-space views: a t-SNE map (van der Maaten and Hinton, 2008; scikit-learn) of penultimate-layer features
coloured by class, and nearest neighbours in feature space beside nearest neighbours in pixel space (Krizhevsky et
al., 2012, figure 4): feature-space neighbours share the class even where their pixels differ."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from kerazoo.io import save_figure
from kerazoo.visualize.common import display_image, layer_model, new_figure


def penultimate_features(model, images, *, layer: str | None = None, batch_size: int = 128) -> np.ndarray:
    """Flattened features (N, D) of ``layer``, default the input of the model's last layer."""
    if layer:
        extract = layer_model(model, layer)
    else:
        op, node_index, _ = model.outputs[0]._keras_history
        extract = keras.Model(model.inputs, op._inbound_nodes[node_index].input_tensors[0], name="penultimate")
    images = np.asarray(images, dtype="float32")
    chunks = [keras.ops.convert_to_numpy(extract(images[i: i + batch_size])) for i in range(0, len(images), batch_size)]
    features = np.concatenate(chunks)
    return features.reshape(len(features), -1)


def tsne(model, images, labels, *, layer: str | None = None, perplexity: float = 30.0, seed: int = 0,
         class_names=None, out: str | None = None) -> np.ndarray:
    """2-D t-SNE coordinates (N, 2) of the features of ``images``; the PNG colours points by ``labels``."""
    from sklearn.manifold import TSNE

    features = penultimate_features(model, images, layer=layer)
    if len(features) < 5:
        raise ValueError(f"Invalid images: t-SNE needs at least 5 images. Received {len(features)}.")
    perplexity = min(perplexity, (len(features) - 1) / 3)
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    if out:
        labels = np.asarray(labels)
        fig, axes = new_figure(1, 1)
        ax = axes[0, 0]
        ax.axis("on")
        shown = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
        bar = fig.colorbar(shown, ax=ax, ticks=sorted(set(labels.tolist())))
        if class_names is not None:
            bar.ax.set_yticklabels([class_names[i] for i in sorted(set(labels.tolist()))])
        bar.set_label("class")
        save_figure(fig, out, f"t-SNE of {features.shape[1]}-d {layer or 'penultimate'} features "
                              f"({len(points)} images, perplexity {perplexity:.0f})")
    return points


@dataclass
class Neighbours:
    feature: np.ndarray
    """(queries, k) indices of the nearest images in feature space (the query itself excluded)."""
    pixel: np.ndarray
    """(queries, k) indices of the nearest images in pixel space."""


def neighbors(model, images, *, queries=(0,), k: int = 5, layer: str | None = None,
              out: str | None = None) -> Neighbours:
    """Nearest neighbours (Euclidean) of the ``queries`` (indices into ``images``) in feature and pixel space."""
    from sklearn.neighbors import NearestNeighbors

    images = np.asarray(images, dtype="float32")
    queries = [int(q) for q in queries]
    if not queries or any(not 0 <= q < len(images) for q in queries):
        raise ValueError(f"Invalid queries: expected indices in [0, {len(images)}). Received: queries={queries}")
    if not 1 <= k < len(images):
        raise ValueError(f"Invalid k: expected an integer in [1, {len(images) - 1}]. Received: k={k!r}")
    found = {}
    for space, vectors in (("feature", penultimate_features(model, images, layer=layer)),
                           ("pixel", images.reshape(len(images), -1))):
        index = NearestNeighbors(n_neighbors=k + 1).fit(vectors)
        _, nearest = index.kneighbors(vectors[queries])
        found[space] = np.array([[n for n in row if n != q][:k] for row, q in zip(nearest, queries)])
    result = Neighbours(**found)
    if out:
        fig, axes = new_figure(2 * len(queries), k + 1)
        for r, q in enumerate(queries):
            for s, space in enumerate(("feature", "pixel")):
                row = axes[2 * r + s]
                row[0].imshow(display_image(images[q]), cmap="gray")
                row[0].set_title(f"query {q} ({space})", fontsize=7)
                for c, n in enumerate(found[space][r], start=1):
                    row[c].imshow(display_image(images[n]), cmap="gray")
                    row[c].set_title(str(n), fontsize=7)
        save_figure(fig, out, f"Nearest neighbours: feature space (top row) vs pixel space (bottom row), k={k}")
    return result
