"""PyTorch tensor layouts → Keras, for the converters of torchvision and timm weights.

PyTorch stores a convolution kernel as (out, in / groups, kh, kw), a depthwise one as (channels * multiplier, 1, kh,
kw), a linear layer as (out, in), and flattens feature maps channels-first; Keras wants (kh, kw, in / groups, out),
(kh, kw, channels, multiplier), (in, out) and flattens channels-last. ``TorchState`` hands out a state dict's arrays
by key, remembers which were used, and assigns them to Keras layers with shape checks that name the layer, so a file
of another architecture fails at the first layer that differs and a converter that forgets a tensor is caught.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["TorchState", "conv_kernel", "depthwise_kernel", "dense_kernel", "flatten_permuted_dense_kernel"]


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """(out, in, kh, kw) → (kh, kw, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def depthwise_kernel(weight: np.ndarray, multiplier: int = 1) -> np.ndarray:
    """(channels * multiplier, 1, kh, kw) → (kh, kw, channels, multiplier)."""
    out, _, kh, kw = weight.shape
    return np.transpose(weight.reshape(out // multiplier, multiplier, kh, kw), (2, 3, 0, 1))


def dense_kernel(weight: np.ndarray) -> np.ndarray:
    """(out, in) → (in, out)."""
    return np.transpose(weight)


def flatten_permuted_dense_kernel(weight: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """A linear layer after a channels-first flatten (C, H, W) as the kernel for a channels-last flatten (H, W, C)."""
    out = weight.shape[0]
    return np.transpose(weight.reshape(out, channels, height, width), (2, 3, 1, 0)).reshape(height * width * channels, out)


class TorchState:
    """A state dict (``{key: array}``) consumed by a converter, key by key."""

    def __init__(self, state: Mapping[str, np.ndarray]):
        # BatchNorm's num_batches_tracked has no Keras counterpart.
        self.arrays = {k: np.asarray(v) for k, v in state.items() if not k.endswith("num_batches_tracked")}
        self.used: set[str] = set()

    def take(self, key: str, layer=None) -> np.ndarray:
        """The array ``key``; a missing key names the Keras ``layer`` it was for, when given."""
        if key not in self.arrays:
            target = f" for layer {layer.name!r}" if layer is not None else ""
            raise ValueError(
                f"The weights file has no tensor {key!r}{target}: it was saved from another architecture."
            )
        self.used.add(key)
        return self.arrays[key]

    def has(self, key: str) -> bool:
        return key in self.arrays

    def assign(self, layer, arrays) -> None:
        """``layer.set_weights(arrays)``, with a ValueError naming the layer when a shape differs."""
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            raise ValueError(
                f"Layer {layer.name!r} expects weights of shapes {expected}, the file gives {got}: the file was saved "
                f"from another architecture or variant."
            )
        layer.set_weights([a.astype(np.float32) for a in arrays])

    def conv(self, layer, prefix: str) -> None:
        """A Conv2D from ``{prefix}.weight`` (+ ``{prefix}.bias`` when the layer has one)."""
        arrays = [conv_kernel(self.take(f"{prefix}.weight", layer))]
        if len(layer.weights) > 1:
            arrays.append(self.take(f"{prefix}.bias", layer))
        self.assign(layer, arrays)

    def depthwise(self, layer, prefix: str, multiplier: int = 1) -> None:
        arrays = [depthwise_kernel(self.take(f"{prefix}.weight", layer), multiplier)]
        if len(layer.weights) > 1:
            arrays.append(self.take(f"{prefix}.bias", layer))
        self.assign(layer, arrays)

    def batch_norm(self, layer, prefix: str) -> None:
        """A BatchNormalization from ``weight``, ``bias``, ``running_mean``, ``running_var`` (scale/center as the layer
        has them)."""
        arrays = []
        if layer.scale:
            arrays.append(self.take(f"{prefix}.weight", layer))
        if layer.center:
            arrays.append(self.take(f"{prefix}.bias", layer))
        arrays += [self.take(f"{prefix}.running_mean", layer), self.take(f"{prefix}.running_var", layer)]
        self.assign(layer, arrays)

    def dense(self, layer, prefix: str, *, kernel: np.ndarray | None = None) -> None:
        arrays = [dense_kernel(self.take(f"{prefix}.weight", layer)) if kernel is None else kernel]
        if len(layer.weights) > 1:
            arrays.append(self.take(f"{prefix}.bias", layer))
        self.assign(layer, arrays)

    def drop(self, prefix: str) -> None:
        """Mark the tensors under ``prefix`` as used without assigning them: heads the model was built without (the
        classifier with include_top=False, training-only auxiliary classifiers)."""
        self.used.update(k for k in self.arrays if k.startswith(prefix))

    def check_all_used(self) -> None:
        """Every tensor of the file was assigned (a converter that skips one would silently lose weights)."""
        unused = sorted(set(self.arrays) - self.used)
        if unused:
            shown = ", ".join(unused[:5]) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
            raise ValueError(f"The weights file has tensors this model has no place for: {shown}.")
