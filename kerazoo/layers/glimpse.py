"""The glimpse sensor of the recurrent attention model (Mnih, Heess, Graves and Kavukcuoglu, "Recurrent Models of
Visual Attention", 2014): a retina of ``scales`` concentric square patches around a location, the first ``size``
pixels wide at full resolution, each next one ``scale_factor`` times wider and averaged down to the same ``size``, so
the centre is seen sharply and the surroundings coarsely.

Locations are (row, column) in [-1, 1]: (-1, -1) is the image's top-left corner, (0, 0) its centre, (1, 1) its
bottom-right corner. Pixels outside the image read as zero.
"""

import keras
from keras import ops


def patch_corners(locations, image_size, patch_size: int):
    """Integer (top, left) of ``patch_size``-wide patches centred on ``locations`` (B, 2) in an image of
    ``image_size`` (height, width): the centre ``(l + 1) / 2 * side`` in pixel-edge coordinates, rounded."""
    sides = ops.convert_to_tensor([float(image_size[0]), float(image_size[1])])
    centres = (ops.cast(locations, "float32") + 1.0) / 2.0 * sides
    return ops.cast(ops.round(centres - patch_size / 2.0), "int32")


@keras.saving.register_keras_serializable(package="kerazoo")
class GlimpseSensor(keras.layers.Layer):
    """Retina patches at given locations: ``[images (B, H, W, C), locations (B, 2)] → (B, size, size, C * scales)``,
    the scales concatenated along channels, the sharpest first.

    Args:
        size: side of every patch after resampling, in pixels (the sharpest patch's side in the image).
        scales: number of patches (the paper uses 1-3 on 28x28 to 100x100 images).
        scale_factor: integer ratio of consecutive patch sides; a coarser patch is averaged over
            ``scale_factor ** k`` x ``scale_factor ** k`` blocks.
    """

    def __init__(self, size: int = 8, scales: int = 3, scale_factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        for name, value, low in (("size", size, 1), ("scales", scales, 1), ("scale_factor", scale_factor, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"Invalid {name}: expected an integer >= {low}. Received: {name}={value!r}")
        self.size, self.scales, self.scale_factor = size, scales, scale_factor

    def extent(self, scale: int) -> int:
        """Side in image pixels of patch ``scale`` (0: the sharpest)."""
        return self.size * self.scale_factor ** scale

    def call(self, inputs):
        images, locations = inputs
        height, width, channels = images.shape[1], images.shape[2], images.shape[3]
        margin = self.extent(self.scales - 1)  # pad once by the widest patch so every crop stays inside
        padded = ops.pad(images, [[0, 0], [margin, margin], [margin, margin], [0, 0]])
        patches = []
        for scale in range(self.scales):
            extent = self.extent(scale)
            corners = patch_corners(locations, (height, width), extent) + margin
            offsets = ops.arange(extent, dtype="int32")
            rows = corners[:, 0:1] + offsets[None, :]  # (B, extent)
            cols = corners[:, 1:2] + offsets[None, :]
            crop = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)  # (B, extent, W + 2m, C)
            crop = ops.take_along_axis(crop, cols[:, None, :, None], axis=2)  # (B, extent, extent, C)
            block = extent // self.size
            if block > 1:
                crop = ops.mean(ops.reshape(crop, (-1, self.size, block, self.size, block, channels)), axis=(2, 4))
            patches.append(crop)
        return ops.concatenate(patches, axis=-1)

    def compute_output_shape(self, input_shape):
        images_shape = input_shape[0]
        return (images_shape[0], self.size, self.size, images_shape[3] * self.scales)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "scales": self.scales, "scale_factor": self.scale_factor}
