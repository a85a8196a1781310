"""Anchor boxes on several feature levels (Ren et al., 2015, Faster R-CNN; Lin et al., 2017, RetinaNet).

Every cell of a level's feature map gets ``len(scales) * len(aspect_ratios)`` anchors centred on the cell, of side
``size * scale`` and height/width ratio ``aspect_ratio`` (same area). Anchors are "xyxy" absolute pixels, ordered
level by level, then row, column and anchor shape: the order in which the detectors' heads flatten their outputs.

KerasHub has an ``AnchorGenerator`` layer, but KerasHub is not part of this stack, and the anchors are a constant of
the model's input size: NumPy computes them once, when the model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AnchorSpec", "generate_anchors"]


@dataclass(frozen=True)
class AnchorSpec:
    """The anchors of a detector: its input size, each level's feature-map size and anchor size, the shapes.

    Attributes:
        image_size: (height, width) of the input in pixels.
        feature_sizes: ((rows, cols), ...) of each level's feature map.
        sizes: base anchor side (pixels) per level.
        scales: multipliers of the base side (RetinaNet uses 2^0, 2^(1/3), 2^(2/3)).
        aspect_ratios: height / width ratios.
    """

    image_size: tuple
    feature_sizes: tuple
    sizes: tuple
    scales: tuple = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    aspect_ratios: tuple = (0.5, 1.0, 2.0)

    def __post_init__(self):
        if len(self.feature_sizes) != len(self.sizes):
            raise ValueError(
                f"Invalid anchor sizes: expected one size per feature level ({len(self.feature_sizes)} levels). "
                f"Received: sizes={list(self.sizes)}"
            )
        for name in ("sizes", "scales", "aspect_ratios"):
            values = getattr(self, name)
            if not values or any(not v > 0 for v in values):
                raise ValueError(f"Invalid {name}: expected positive numbers. Received: {name}={list(values)}")

    @property
    def per_cell(self) -> int:
        """Anchors per feature-map cell."""
        return len(self.scales) * len(self.aspect_ratios)

    @property
    def count(self) -> int:
        return sum(rows * cols for rows, cols in self.feature_sizes) * self.per_cell

    def to_config(self) -> dict:
        return {
            "image_size": list(self.image_size),
            "feature_sizes": [list(s) for s in self.feature_sizes],
            "sizes": list(self.sizes),
            "scales": list(self.scales),
            "aspect_ratios": list(self.aspect_ratios),
        }

    @classmethod
    def from_config(cls, config: dict) -> "AnchorSpec":
        return cls(
            image_size=tuple(config["image_size"]),
            feature_sizes=tuple(tuple(s) for s in config["feature_sizes"]),
            sizes=tuple(config["sizes"]),
            scales=tuple(config["scales"]),
            aspect_ratios=tuple(config["aspect_ratios"]),
        )


def _cell_shapes(size: float, scales, aspect_ratios) -> np.ndarray:
    """(width, height) of the anchors of one cell, [scales x ratios, 2], scale-major."""
    shapes = [
        (size * s / np.sqrt(r), size * s * np.sqrt(r)) for s in scales for r in aspect_ratios
    ]
    return np.asarray(shapes, np.float64)


def generate_anchors(spec: AnchorSpec) -> np.ndarray:
    """All anchors of ``spec`` as float32 [N, 4] "xyxy" absolute pixels (see the module docstring for the order)."""
    height, width = spec.image_size
    levels = []
    for (rows, cols), size in zip(spec.feature_sizes, spec.sizes):
        stride_y, stride_x = height / rows, width / cols
        centre_y = (np.arange(rows) + 0.5) * stride_y
        centre_x = (np.arange(cols) + 0.5) * stride_x
        cy, cx = np.meshgrid(centre_y, centre_x, indexing="ij")  # [rows, cols]
        shapes = _cell_shapes(size, spec.scales, spec.aspect_ratios)  # [A, 2]
        half_w, half_h = shapes[:, 0] / 2, shapes[:, 1] / 2
        boxes = np.stack(
            [cx[..., None] - half_w, cy[..., None] - half_h, cx[..., None] + half_w, cy[..., None] + half_h], axis=-1
        )  # [rows, cols, A, 4]
        levels.append(boxes.reshape(-1, 4))
    return np.concatenate(levels).astype(np.float32)
