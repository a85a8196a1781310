"""torchvision's GoogLeNet and Inception-v3 weights, and timm's ``inception_v3``, → kerazoo's ``googlenet_tv`` and
``inceptionv3_tv`` (torchvision's networks as options of the Inception builder; see ``applications/inception.py``).

Every convolution is a ``BasicConv2d``: ``{module}.conv`` (bias-free) and ``{module}.bn``, assigned to the kerazoo
layers ``{name}`` and ``{name}_bn``. The tables below map each torchvision module to its kerazoo name.

- GoogLeNet: ``conv1..3`` (stem), ``inception{3a..5b}.branch{1..4}`` (``branch2.0/1``, ``branch3.0/1``,
  ``branch4.1`` inside the branches), ``fc``. The file's auxiliary classifiers (``aux1``, ``aux2``) are training
  heads that torchvision drops when it loads these weights; so does the converter.
- Inception-v3: ``Conv2d_1a_3x3`` ... ``Conv2d_4a_3x3`` (stem), ``Mixed_5b`` ... ``Mixed_7c`` (the modules named
  ``branch1x1``, ``branch5x5_1`` ... of torchvision's InceptionA-E), ``AuxLogits`` (``conv0``, ``conv1``, ``fc``:
  assigned with ``aux_classifiers=True``, dropped otherwise) and ``fc``. timm's ``inception_v3`` has the same
  module names (its weights are used with ``transform_input=False``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from kerazoo.applications.pretrained.tags import register_converter, register_weights
from kerazoo.applications.pretrained.torch_layout import TorchState
from kerazoo.applications.pretrained.torch_tags import timm_tag, torchvision_tag

# kerazoo branch ops of each torchvision Inception-v3 module type: (torchvision submodule, kerazoo layer suffix).
_INCEPTION_A = (("branch1x1", "branch1_conv1"), ("branch5x5_1", "branch2_conv1"), ("branch5x5_2", "branch2_conv2"),
                ("branch3x3dbl_1", "branch3_conv1"), ("branch3x3dbl_2", "branch3_conv2"),
                ("branch3x3dbl_3", "branch3_conv3"), ("branch_pool", "branch4_conv1"))
_INCEPTION_B = (("branch3x3", "branch1_conv1"), ("branch3x3dbl_1", "branch2_conv1"),
                ("branch3x3dbl_2", "branch2_conv2"), ("branch3x3dbl_3", "branch2_conv3"))
_INCEPTION_C = (("branch1x1", "branch1_conv1"), ("branch7x7_1", "branch2_conv1"), ("branch7x7_2", "branch2_conv2"),
                ("branch7x7_3", "branch2_conv3")) + tuple(
                    (f"branch7x7dbl_{i}", f"branch3_conv{i}") for i in range(1, 6)) + (
                ("branch_pool", "branch4_conv1"),)
_INCEPTION_D = (("branch3x3_1", "branch1_conv1"), ("branch3x3_2", "branch1_conv2")) + tuple(
    (f"branch7x7x3_{i}", f"branch2_conv{i}") for i in range(1, 5))
_INCEPTION_E = (("branch1x1", "branch1_conv1"), ("branch3x3_1", "branch2_conv1"),
                ("branch3x3_2a", "branch2_fork1_conv1"), ("branch3x3_2b", "branch2_fork2_conv1"),
                ("branch3x3dbl_1", "branch3_conv1"), ("branch3x3dbl_2", "branch3_conv2"),
                ("branch3x3dbl_3a", "branch3_fork1_conv1"), ("branch3x3dbl_3b", "branch3_fork2_conv1"),
                ("branch_pool", "branch4_conv1"))
# torchvision module → (kerazoo stage{S}_block{B}, its ops).
_INCEPTION_V3_MODULES = {
    "Mixed_5b": ("stage3_block1", _INCEPTION_A), "Mixed_5c": ("stage3_block2", _INCEPTION_A),
    "Mixed_5d": ("stage3_block3", _INCEPTION_A), "Mixed_6a": ("stage4_block1", _INCEPTION_B),
    "Mixed_6b": ("stage4_block2", _INCEPTION_C), "Mixed_6c": ("stage4_block3", _INCEPTION_C),
    "Mixed_6d": ("stage4_block4", _INCEPTION_C), "Mixed_6e": ("stage4_block5", _INCEPTION_C),
    "Mixed_7a": ("stage5_block1", _INCEPTION_D), "Mixed_7b": ("stage5_block2", _INCEPTION_E),
    "Mixed_7c": ("stage5_block3", _INCEPTION_E),
}
_INCEPTION_V3_STEM = (("Conv2d_1a_3x3", "stem_conv1"), ("Conv2d_2a_3x3", "stem_conv2"),
                      ("Conv2d_2b_3x3", "stem_conv3"), ("Conv2d_3b_1x1", "stem_conv4"),
                      ("Conv2d_4a_3x3", "stem_conv5"))

_GOOGLENET_STEM = (("conv1", "stem_conv1"), ("conv2", "stem_conv2"), ("conv3", "stem_conv3"))
_GOOGLENET_BRANCHES = (("branch1", "branch1_conv1"), ("branch2.0", "branch2_conv1"), ("branch2.1", "branch2_conv2"),
                       ("branch3.0", "branch3_conv1"), ("branch3.1", "branch3_conv2"), ("branch4.1", "branch4_conv1"))
_GOOGLENET_MODULES = {f"inception{stage}{letter}": f"stage{stage}_block{block}"
                      for stage, letters in ((3, "ab"), (4, "abcde"), (5, "ab"))
                      for block, letter in enumerate(letters, start=1)}


def _basic_conv(model, state: TorchState, prefix: str, name: str) -> None:
    state.conv(model.get_layer(name), f"{prefix}.conv")
    state.batch_norm(model.get_layer(f"{name}_bn"), f"{prefix}.bn")


def _head(model, state: TorchState, names: set, layer: str, prefix: str) -> None:
    if layer in names:
        state.dense(model.get_layer(layer), prefix)
    else:
        state.drop(f"{prefix}.")


def convert_googlenet(model, tensors: Mapping[str, np.ndarray]) -> None:
    state = TorchState(tensors)
    names = {layer.name for layer in model.layers}
    for prefix, name in _GOOGLENET_STEM:
        _basic_conv(model, state, prefix, name)
    for module, block in _GOOGLENET_MODULES.items():
        for branch, op in _GOOGLENET_BRANCHES:
            _basic_conv(model, state, f"{module}.{branch}", f"{block}_{op}")
    _head(model, state, names, "predictions", "fc")
    state.drop("aux1.")
    state.drop("aux2.")
    state.check_all_used()


def convert_inception_v3(model, tensors: Mapping[str, np.ndarray]) -> None:
    state = TorchState(tensors)
    names = {layer.name for layer in model.layers}
    for prefix, name in _INCEPTION_V3_STEM:
        _basic_conv(model, state, prefix, name)
    for module, (block, ops) in _INCEPTION_V3_MODULES.items():
        for branch, op in ops:
            _basic_conv(model, state, f"{module}.{branch}", f"{block}_{op}")
    if "aux1_predictions" in names:
        _basic_conv(model, state, "AuxLogits.conv0", "aux1_conv1")
        _basic_conv(model, state, "AuxLogits.conv1", "aux1_conv2")
        state.dense(model.get_layer("aux1_predictions"), "AuxLogits.fc")
    else:
        state.drop("AuxLogits.")
    _head(model, state, names, "predictions", "fc")
    state.check_all_used()


register_weights(
    torchvision_tag("googlenet_tv", builder="googlenet", file="googlenet-1378be20.pth", top1=69.778, top5=89.530,
                    default=True),
    torchvision_tag("inceptionv3_tv", builder="inception_v3", file="inception_v3_google-0cc3c7bd.pth",
                    top1=77.294, top5=93.450, default=True, resize=342, crop=299),
    # timm's port of the TF-slim weights: Inception preprocessing (mean = std = 0.5), so no transform_input.
    timm_tag("inceptionv3_tv", hub_id="inception_v3.tf_in1k", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
             crop_pct=0.875, interpolation="bicubic", crop=299, builder_kwargs={"transform_input": False}),
)
register_converter("torchvision", "googlenet_tv", convert_googlenet)
register_converter("torchvision", "inceptionv3_tv", convert_inception_v3)
register_converter("timm", "inceptionv3_tv", convert_inception_v3)
