"""RoI-Align (He et al., 2017, "Mask R-CNN") on ``keras.ops``.

Each region of interest is split into ``output_size x output_size`` bins; each bin averages
``sampling_ratio x sampling_ratio`` bilinear samples at evenly spaced points, with no rounding of the region or bin
edges (RoI pooling's quantization is what Mask R-CNN removed). Coordinates follow Detectron2's ``aligned=True``: a
pixel's centre is at index + 0.5, so a box's pixel coordinates divided by the stride, minus 0.5, are feature-map
indices. Samples outside the map are clamped to its border.

``keras.ops`` has no RoI-Align and ``tf.image.crop_and_resize`` is TensorFlow-only (and samples one point per bin,
with corner-aligned coordinates), so it is written here. Bilinear sampling is separable, so each region becomes two
small interpolation matrices (per output bin, the average of its samples' bilinear weights over the rows, and over the
columns) and the crop is two batched matrix products. Gathering the four neighbours of every sample instead computes the
same values, but its gradient is a scatter: it made a Faster R-CNN training step 4x slower here
(``bench/two_stage_step.py``).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["roi_align", "RoIAlign"]


def _interpolation(start, end, size, output_size, sampling_ratio):
    """[B, R, output_size, size]: for each output bin along one axis, the mean bilinear weight of each of the ``size``
    feature-map positions over the bin's ``sampling_ratio`` samples, from region edges [B, R] in map coordinates."""
    bin_size = (end - start) / output_size
    steps = (ops.arange(output_size * sampling_ratio, dtype="float32") + 0.5) / sampling_ratio  # in bins
    positions = ops.clip(start[..., None] + steps * bin_size[..., None], 0.0, size - 1.0)  # [B, R, S]
    low = ops.floor(positions)
    upper_weight = (positions - low)[..., None]
    low = ops.cast(low, "int32")
    high = ops.minimum(low + 1, size - 1)
    weights = ops.one_hot(low, size) * (1.0 - upper_weight) + ops.one_hot(high, size) * upper_weight  # [B, R, S, size]
    return ops.mean(ops.reshape(weights, (-1, ops.shape(start)[1], output_size, sampling_ratio, size)), axis=3)


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
    height, width = features.shape[1], features.shape[2]
    rois = ops.stop_gradient(ops.cast(rois, "float32")) / stride - 0.5  # no gradient into the region edges
    rows = _interpolation(rois[..., 1], rois[..., 3], height, output_size, sampling_ratio)  # [B, R, O, H]
    cols = _interpolation(rois[..., 0], rois[..., 2], width, output_size, sampling_ratio)  # [B, R, O, W]
    features = ops.cast(features, rows.dtype)
    by_rows = ops.einsum("brih,bhwc->briwc", rows, features)  # [B, R, O, W, C]
    return ops.einsum("brjw,briwc->brijc", cols, by_rows)


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
