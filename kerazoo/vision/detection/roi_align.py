"""RoI-Align (He et al., 2017, "Mask R-CNN") on ``keras.ops``.

Each region of interest is split into ``output_size x output_size`` bins; each bin averages
``sampling_ratio x sampling_ratio`` bilinear samples at evenly spaced points, with no rounding of the region or bin
edges (RoI pooling's quantization is what Mask R-CNN removed). Coordinates follow Detectron2's ``aligned=True``: a
pixel's centre is at index + 0.5, so a box's pixel coordinates divided by the stride, minus 0.5, are feature-map
indices. Samples outside the map are clamped to its border.

``keras.ops`` has no RoI-Align and ``tf.image.crop_and_resize`` is TensorFlow-only (and samples one point per bin,
with corner-aligned coordinates), so it is written here: separable sample grids, four gathers, one weighted sum.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["roi_align", "RoIAlign"]


def _sample_positions(start, end, output_size, sampling_ratio):
    """Sample coordinates along one axis: [B, R, output_size * sampling_ratio] from region edges [B, R]."""
    bin_size = (end - start) / output_size
    steps = (ops.arange(output_size * sampling_ratio, dtype="float32") + 0.5) / sampling_ratio  # in bins
    return start[..., None] + steps * bin_size[..., None]


def roi_align(features, rois, *, output_size=7, sampling_ratio=2, stride=1.0):
    """Bilinear RoI-Align of ``rois`` on ``features``.

    Args:
        features: [B, H, W, C] feature map.
        rois: [B, R, 4] "xyxy" regions in input-image pixels.
        output_size: bins per side of the output.
        sampling_ratio: samples per bin per axis.
        stride: input pixels per feature-map cell.

    Returns:
        [B, R, output_size, output_size, C].
    """
    if output_size < 1 or sampling_ratio < 1:
        raise ValueError(
            "Invalid RoI-Align sizes: expected output_size >= 1 and sampling_ratio >= 1. "
            f"Received: output_size={output_size!r}, sampling_ratio={sampling_ratio!r}"
        )
    height, width, channels = features.shape[1], features.shape[2], features.shape[3]
    rois = ops.stop_gradient(ops.cast(rois, "float32")) / stride - 0.5  # no gradient into the region edges
    ys = _sample_positions(rois[..., 1], rois[..., 3], output_size, sampling_ratio)  # [B, R, S]
    xs = _sample_positions(rois[..., 0], rois[..., 2], output_size, sampling_ratio)
    ys, xs = ops.clip(ys, 0.0, height - 1.0), ops.clip(xs, 0.0, width - 1.0)
    y0, x0 = ops.floor(ys), ops.floor(xs)
    wy, wx = ys - y0, xs - x0  # weight of the lower/right neighbour
    y0, x0 = ops.cast(y0, "int32"), ops.cast(x0, "int32")
    y1, x1 = ops.minimum(y0 + 1, height - 1), ops.minimum(x0 + 1, width - 1)

    flat = ops.reshape(features, (-1, height * width, channels))
    side = ys.shape[-1]
    num_rois = ops.shape(rois)[1]

    def gather(rows, cols):
        index = rows[..., :, None] * width + cols[..., None, :]  # [B, R, S, S]
        index = ops.reshape(index, (ops.shape(index)[0], -1, 1))
        return ops.reshape(ops.take_along_axis(flat, index, axis=1), (-1, num_rois, side, side, channels))

    wy, wx = wy[..., :, None, None], wx[..., None, :, None]
    samples = (
        gather(y0, x0) * (1 - wy) * (1 - wx)
        + gather(y0, x1) * (1 - wy) * wx
        + gather(y1, x0) * wy * (1 - wx)
        + gather(y1, x1) * wy * wx
    )
    samples = ops.reshape(samples, (-1, num_rois, output_size, sampling_ratio, output_size, sampling_ratio, channels))
    return ops.mean(samples, axis=(3, 5))


@keras.saving.register_keras_serializable(package="kerazoo")
class RoIAlign(keras.layers.Layer):
    """Layer form of :func:`roi_align`: inputs ``[features [B, H, W, C], rois [B, R, 4]]``."""

    def __init__(self, output_size=7, sampling_ratio=2, stride=1.0, **kwargs):
        super().__init__(**kwargs)
        self.output_size, self.sampling_ratio, self.stride = int(output_size), int(sampling_ratio), float(stride)

    def call(self, inputs):
        features, rois = inputs
        return roi_align(features, rois, output_size=self.output_size, sampling_ratio=self.sampling_ratio,
                         stride=self.stride)

    def compute_output_shape(self, input_shapes):
        features, rois = input_shapes
        return (features[0], rois[1], self.output_size, self.output_size, features[3])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "sampling_ratio": self.sampling_ratio,
                "stride": self.stride}
