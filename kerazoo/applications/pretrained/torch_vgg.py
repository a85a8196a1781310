"""torchvision's VGG and AlexNet → kerazoo.

torchvision keeps both as ``features`` (an ``nn.Sequential`` of convs, [BatchNorms,] ReLUs and pools, numbered by
position), an ``AdaptiveAvgPool2d`` and ``classifier`` (Linear layers at positions 0, 3, 6 for VGG and 1, 4, 6 for
AlexNet, between ReLUs and Dropouts). The kerazoo variants:

- VGG-11/13/16/19 and their ``_bn`` versions: ``vgg11`` ... ``vgg19_bn`` with ``adaptive_pool=7`` (the tags'
  ``builder_kwargs``; the identity at 224x224, so the builders are otherwise the same network).
- AlexNet: ``alexnet_tv``, torchvision's single-tower 64-192-384-256-256 network with its 6x6 adaptive pooling
  (kerazoo's ``alexnet`` is the paper's two-tower one).

torchvision flattens the pooled map channels-first, Keras channels-last, so the first FC kernel's rows are permuted
(``torch_layout.flatten_permuted_dense_kernel``). Tags: ``"tv_in1k"`` (IMAGENET1K_V1, the figures from torchvision's
weight metadata; torchvision's VGG-16 "IMAGENET1K_FEATURES" weights, SSD's backbone without a trained classifier,
are not registered).

timm's VGGs (``"timm/vgg16.tv_in1k"``, ...) are torchvision's weights in timm's layout: the two hidden FC layers as
``pre_logits.fc1`` (a 7x7 convolution, (4096, 512, 7, 7)) and ``pre_logits.fc2`` (1x1), the classifier as
``head.fc``. timm's network equals torchvision's (and kerazoo's with ``adaptive_pool=7``) up to 224x224 inputs, where
its last map is at most 7x7 (it average-pools smaller maps up to 7x7); beyond 224 it slides the 7x7 "FC" and
averages, which kerazoo's VGG does not.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from kerazoo.applications.pretrained.tags import register_converter, register_weights
from kerazoo.applications.pretrained.torch_layout import TorchState, dense_kernel, flatten_permuted_dense_kernel
from kerazoo.applications.pretrained.torch_resnet import convert_head, timm_tag, torchvision_tag

__all__ = ["convert_vgg", "convert_alexnet"]

# Positions of the Linear layers in torchvision's ``classifier`` Sequential.
VGG_CLASSIFIER = (0, 3, 6)
ALEXNET_CLASSIFIER = (1, 4, 6)


def convert_vgg(model, tensors: Mapping[str, np.ndarray]) -> None:
    """Assign a torchvision VGG (with or without BatchNorm) state dict to a kerazoo VGG."""
    state = TorchState(tensors)
    names = {layer.name for layer in model.layers}
    position = 0  # in ``features``: conv, [bn,] relu per block, a pool per stage
    stage = 1
    while f"stage{stage}_block1_conv" in names:
        block = 1
        while f"stage{stage}_block{block}_conv" in names:
            name = f"stage{stage}_block{block}"
            state.conv(model.get_layer(f"{name}_conv"), f"features.{position}")
            position += 1
            if f"{name}_bn" in names:
                state.batch_norm(model.get_layer(f"{name}_bn"), f"features.{position}")
                position += 1
            position += 1  # ReLU
            block += 1
        position += 1  # MaxPool2d
        stage += 1
    _convert_classifier(model, state, names, VGG_CLASSIFIER)


def convert_alexnet(model, tensors: Mapping[str, np.ndarray]) -> None:
    """Assign torchvision's AlexNet state dict to kerazoo's ``alexnet_tv``."""
    state = TorchState(tensors)
    names = {layer.name for layer in model.layers}
    position = 0  # in ``features``: conv, relu, [pool] per layer
    stage = 1
    while f"stage{stage}_conv" in names:
        state.conv(model.get_layer(f"stage{stage}_conv"), f"features.{position}")
        position += 3 if f"stage{stage}_pool" in names else 2
        stage += 1
    _convert_classifier(model, state, names, ALEXNET_CLASSIFIER)


def _convert_classifier(model, state: TorchState, names: set, positions: tuple) -> None:
    """``head_fc1``, ``head_fc2`` and ``predictions`` from the classifier's Linear layers (torchvision) or from timm's
    ``pre_logits`` convolutions and ``head.fc``; without a top, the file's classifier is left out."""
    if state.has("pre_logits.fc1.weight"):
        first, second, last = "pre_logits.fc1", "pre_logits.fc2", "head.fc"
    else:
        first, second, last = (f"classifier.{p}" for p in positions)
    if "head_flatten" not in names:
        for prefix in (first, second, last):
            state.take(f"{prefix}.weight")
            state.take(f"{prefix}.bias")
        return
    # timm's (out, in, kh, kw) "FC" convolutions are Linear layers over the channels-first flattened map.
    fc1, fc2 = (state.take(f"{prefix}.weight") for prefix in (first, second))
    state.dense(model.get_layer("head_fc1"), first, kernel=_first_fc_kernel(model, fc1.reshape(fc1.shape[0], -1)))
    state.dense(model.get_layer("head_fc2"), second, kernel=dense_kernel(fc2.reshape(fc2.shape[0], -1)))
    convert_head(model, state, names, last)


def _first_fc_kernel(model, weight: np.ndarray) -> np.ndarray:
    """The first FC kernel for Keras' channels-last flatten of the map that ``head_flatten`` receives."""
    _, height, width, channels = model.get_layer("head_flatten").input.shape
    if weight.ndim != 2 or weight.shape[1] != height * width * channels:
        return dense_kernel(weight)  # a mismatch, which the shape check then names
    return flatten_permuted_dense_kernel(weight, channels, height, width)


_DOWNLOADS = "https://download.pytorch.org/models/"
_POOL_7 = {"adaptive_pool": 7}

# torchvision's weights enums (torchvision/models/vgg.py, alexnet.py): all IMAGENET1K_V1, resize 256, crop 224.
TORCHVISION_TAGS = (
    torchvision_tag("vgg11", "tv_in1k", builder="vgg11", url=_DOWNLOADS + "vgg11-8a719046.pth",
                    top1=69.020, top5=88.628, default=True, builder_kwargs=_POOL_7),
    torchvision_tag("vgg11_bn", "tv_in1k", builder="vgg11_bn", url=_DOWNLOADS + "vgg11_bn-6002323d.pth",
                    top1=70.370, top5=89.810, default=True, builder_kwargs=_POOL_7),
    torchvision_tag("vgg13", "tv_in1k", builder="vgg13", url=_DOWNLOADS + "vgg13-19584684.pth",
                    top1=69.928, top5=89.246, default=True, builder_kwargs=_POOL_7),
    torchvision_tag("vgg13_bn", "tv_in1k", builder="vgg13_bn", url=_DOWNLOADS + "vgg13_bn-abd245e5.pth",
                    top1=71.586, top5=90.374, default=True, builder_kwargs=_POOL_7),
    # keras.applications also publishes VGG16/VGG19 weights (the core's "keras_in1k", the default there).
    torchvision_tag("vgg16", "tv_in1k", builder="vgg16", url=_DOWNLOADS + "vgg16-397923af.pth",
                    top1=71.592, top5=90.382, builder_kwargs=_POOL_7),
    torchvision_tag("vgg16_bn", "tv_in1k", builder="vgg16_bn", url=_DOWNLOADS + "vgg16_bn-6c64b313.pth",
                    top1=73.360, top5=91.516, default=True, builder_kwargs=_POOL_7),
    torchvision_tag("vgg19", "tv_in1k", builder="vgg19", url=_DOWNLOADS + "vgg19-dcbb9e9d.pth",
                    top1=72.376, top5=90.876, builder_kwargs=_POOL_7),
    torchvision_tag("vgg19_bn", "tv_in1k", builder="vgg19_bn", url=_DOWNLOADS + "vgg19_bn-c79401a0.pth",
                    top1=74.218, top5=91.842, default=True, builder_kwargs=_POOL_7),
    torchvision_tag("alexnet_tv", "tv_in1k", builder="alexnet", url=_DOWNLOADS + "alexnet-owt-7be5be79.pth",
                    top1=56.522, top5=79.066, default=True),
)

# timm's VGG configs (timm/models/vgg.py): crop_pct 0.875, bilinear, BSD-3-Clause (torchvision's weights).
TIMM_TAGS = tuple(
    timm_tag(name, f"{name}.tv_in1k", crop_pct=0.875, interpolation="bilinear", license="BSD-3-Clause",
             builder_kwargs=_POOL_7)
    for name in ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
)

register_weights(*TORCHVISION_TAGS, *TIMM_TAGS)
for _tag in TORCHVISION_TAGS + TIMM_TAGS:
    register_converter(_tag.source, _tag.model, convert_alexnet if _tag.model == "alexnet_tv" else convert_vgg)
