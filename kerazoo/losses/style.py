"""Neural style transfer losses: Gram matrices, style and content losses, total variation.

Gatys, Ecker and Bethge, "Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016): the style of an
image is the Gram matrix (channel co-activation) of a network's feature maps; its content is the feature maps
themselves. Johnson, Alahi and Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution"
(ECCV 2016) train a feed-forward network with the same losses. Total variation (Mahendran and Vedaldi, 2015) keeps
generated images smooth.

Normalizations (chosen so that losses are comparable across layers of different sizes):
    gram_matrix(F)[b]     = F_b^T F_b / (H W)               F_b: the (H W, C) feature matrix of example b
    style_loss(G, F)[b]   = mean over (C, C) of (gram_matrix(F)[b] - G)^2
    content_loss(P, F)[b] = mean over (H, W, C) of (F - P)^2
    total_variation(x)[b] = mean |x[i+1, j] - x[i, j]|^p + mean |x[i, j+1] - x[i, j]|^p      (p = power, default 2)
The functions return one value per example; the ``Loss`` classes (``losses.get("style_loss")``) reduce them as Keras
losses do.
"""

from __future__ import annotations

import keras
from keras import ops

from kerazoo.losses.base import FunctionLoss

__all__ = [
    "gram_matrix", "style_loss", "content_loss", "total_variation", "StyleLoss", "ContentLoss", "TotalVariation",
]


def gram_matrix(features):
    """Gram matrices (B, C, C) of channels-last feature maps (B, H, W, C), divided by the H W positions."""
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[-1]))
    positions = ops.cast(ops.shape(flat)[1], features.dtype)
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / positions


def style_loss(style, features):
    """Mean squared difference between the Gram matrices of ``features`` (B, H, W, C) and of ``style``: feature maps
    (B, H', W', C), or their Gram matrix already ((C, C) or (B, C, C), e.g. a blend of several styles'); one value per
    example."""
    style_gram = gram_matrix(style) if len(style.shape) == 4 else style
    return ops.mean(ops.square(gram_matrix(features) - style_gram), axis=(1, 2))


def content_loss(content_features, features):
    """Mean squared difference between two batches of feature maps; one value per example."""
    axes = tuple(range(1, len(features.shape)))
    return ops.mean(ops.square(features - content_features), axis=axes)


def total_variation(images, power: float = 2.0):
    """Mean ``power``-th power of the differences between vertical and horizontal neighbours; one value per image
    (B, H, W, C). ``power=1`` is the anisotropic TV norm, 2 the smooth prior of Gatys et al. and Johnson et al."""
    down = ops.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    right = ops.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    return ops.mean(ops.power(down, power), axis=(1, 2, 3)) + ops.mean(ops.power(right, power), axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="kerazoo")
class StyleLoss(FunctionLoss):
    """:func:`style_loss`: ``y_true`` the style image's feature maps (or their Gram matrix), ``y_pred`` the generated
    image's feature maps."""

    fn = staticmethod(style_loss)

    def __init__(self, *, name="style_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class ContentLoss(FunctionLoss):
    """:func:`content_loss`: ``y_true`` the content image's feature maps, ``y_pred`` the generated image's."""

    fn = staticmethod(content_loss)

    def __init__(self, *, name="content_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


@keras.saving.register_keras_serializable(package="kerazoo")
class TotalVariation(FunctionLoss):
    """:func:`total_variation` of ``y_pred`` (images); ``y_true`` is ignored (pass the same images)."""

    def __init__(self, *, power: float = 2.0, name="total_variation", reduction="sum_over_batch_size", dtype=None):
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0:
            raise ValueError(f"Invalid power: expected a positive number. Received: power={power!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype, power=float(power))

    def call(self, y_true, y_pred):
        return total_variation(y_pred, **self.options)
