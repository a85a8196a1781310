"""Where a recurrent attention model looked (Mnih et al. 2014, Fig. 3): its glimpse path drawn on test images.

Each image gets one box per retina scale at every glimpse (the smallest solid, larger ones dashed), coloured from
the first glimpse (dark) to the last (bright), joined by the path of the glimpse centres, and titled with the
prediction (and the label when known). The locations are deterministic: the policy's means, as at evaluation.

    locations = glimpses(model, images, labels=labels, out="glimpses.png")   # [N, glimpses, 2] (y, x) in [-1, 1]
"""

from __future__ import annotations

import numpy as np

from kerazoo.io import save_figure
from kerazoo.visualize.common import display_image, new_figure

__all__ = ["glimpses", "MAX_IMAGES"]

MAX_IMAGES = 8


def glimpses(model, images, *, labels=None, class_names=None, out: str | None = None) -> np.ndarray:
    """The glimpse locations of a RAM ``model`` on raw-pixel ``images`` [N, H, W, C] (or one [H, W, C] image),
    N <= MAX_IMAGES; with ``out``, the figure described in the module docstring written there as a PNG."""
    from kerazoo.vision.ram import ATTENTION_LAYER, glimpse_boxes, glimpse_path

    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or not 1 <= len(images) <= MAX_IMAGES:
        raise ValueError(f"Invalid images: expected [N, H, W, C] with 1 <= N <= {MAX_IMAGES}. "
                         f"Received: images.shape={images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"Invalid labels: expected one per image ({len(images)}). Received: {len(labels)} labels")
    locations, logits = glimpse_path(model, images)
    if out:
        layer = model.get_layer(ATTENTION_LAYER)
        boxes = glimpse_boxes(locations, image_shape=images.shape[1:3], size=layer.glimpse_size, scales=layer.scales)
        _draw(images, locations, boxes, np.argmax(logits, axis=-1), labels, class_names, out)
    return locations


def _name(index, class_names) -> str:
    return class_names[index] if class_names is not None and 0 <= index < len(class_names) else str(index)


def _draw(images, locations, boxes, predicted, labels, class_names, out) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    count, steps = len(images), locations.shape[1]
    cols = min(count, 4)
    rows = -(-count // cols)
    fig, axes = new_figure(rows, cols)
    colours = plt.get_cmap("autumn")(np.linspace(0.0, 1.0, steps))
    height, width = images.shape[1:3]
    for ax in axes.flat[count:]:
        ax.axis("off")
    for n, ax in enumerate(axes.flat[:count]):
        ax.imshow(display_image(images[n]), cmap="gray")
        for t in range(steps):
            for s, (top, left, side) in enumerate(boxes[n, t]):
                # Pixel (r, c) covers [c - 0.5, c + 0.5] in imshow's coordinates.
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor=colours[t],
                                       linewidth=1.5 if s == 0 else 0.8, linestyle="-" if s == 0 else "--"))
        centres_y = (locations[n, :, 0] + 1.0) * height / 2.0 - 0.5
        centres_x = (locations[n, :, 1] + 1.0) * width / 2.0 - 0.5
        ax.plot(centres_x, centres_y, "-", color="cyan", linewidth=1.0)
        ax.scatter(centres_x, centres_y, c=colours, s=14, zorder=3)
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        title = f"pred {_name(int(predicted[n]), class_names)}"
        if labels is not None:
            title += f" / true {_name(int(labels[n]), class_names)}"
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, out, f"Glimpse path ({steps} glimpses, {boxes.shape[2]} scales; first dark, last bright)")
