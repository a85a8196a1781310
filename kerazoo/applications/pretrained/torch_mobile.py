"""torchvision's SqueezeNet 1.0/1.1, MobileNet v2 and ShuffleNet v2 x0.5-x2.0 weights, and timm's
``mobilenetv2_100``, → the ``_tv`` variants of kerazoo's builders (PyTorch's padding layout; see each builder).

State-dict keys, per source:

- torchvision SqueezeNet: ``features.{i}`` in ``nn.Sequential`` order (the stem conv is 0; each stage is a max pool
  then its fire modules, ``.squeeze``, ``.expand1x1``, ``.expand3x3``) and ``classifier.1`` (the 1x1 class conv).
- torchvision MobileNetV2: ``features.0.{0,1}`` (stem conv, BN), ``features.{1..17}.conv`` (the 17 blocks in order:
  ``0.0/0.1`` expansion conv/BN unless t = 1, then the depthwise conv/BN, the projection conv and its BN),
  ``features.18.{0,1}`` (the 1280-channel conv/BN) and ``classifier.1``.
- timm ``mobilenetv2_100``: ``conv_stem``, ``bn1``, ``blocks.{stage}.{block}`` (``conv_pw``/``bn1``,
  ``conv_dw``/``bn2``, ``conv_pwl``/``bn3``; the t = 1 block ``conv_dw``/``bn1``, ``conv_pw``/``bn2``),
  ``conv_head``, ``bn2``, ``classifier``.
- torchvision ShuffleNetV2: ``conv1.{0,1}``, ``stage{S}.{B}.branch1.{0,1,2,3}`` (stride 2: depthwise conv/BN,
  1x1 conv/BN), ``.branch2.{0,1,3,4,5,6}`` (1x1 conv/BN, depthwise conv/BN, 1x1 conv/BN), ``conv5.{0,1}``, ``fc``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from kerazoo.applications.pretrained.tags import register_converter, register_weights
from kerazoo.applications.pretrained.torch_layout import TorchState
from kerazoo.applications.pretrained.torch_tags import IMAGENET_MEAN, IMAGENET_STD, timm_tag, torchvision_tag


def _blocks(model, stage: int, suffix: str) -> int:
    """How many blocks ``stage{stage}_block{B}{suffix}`` the model has."""
    names = {layer.name for layer in model.layers}
    count = 0
    while f"stage{stage}_block{count + 1}{suffix}" in names:
        count += 1
    return count


def _classifier(model, state: TorchState, prefix: str) -> None:
    if any(layer.name == "predictions" for layer in model.layers):
        state.dense(model.get_layer("predictions"), prefix)
    else:
        state.drop(f"{prefix}.")


def convert_squeezenet(model, tensors: Mapping[str, np.ndarray]) -> None:
    state = TorchState(tensors)
    state.conv(model.get_layer("stem_conv"), "features.0")
    index = 2  # features.1 is the stem's ReLU, features.2 the first max pool
    stage = 1
    while blocks := _blocks(model, stage, "_squeeze_conv"):
        for block in range(1, blocks + 1):
            for op in ("squeeze", "expand1x1", "expand3x3"):
                state.conv(model.get_layer(f"stage{stage}_block{block}_{op}_conv"), f"features.{index + block}.{op}")
        index += blocks + 1
        stage += 1
    if any(layer.name == "head_conv" for layer in model.layers):
        state.conv(model.get_layer("head_conv"), "classifier.1")
    else:
        state.drop("classifier.")
    state.check_all_used()


def _mobilenet_v2(model, tensors, *, keys) -> None:
    """Walk the blocks in order; ``keys(stage, block, index, op)`` gives the state-dict prefix of each conv/BN."""
    state = TorchState(tensors)
    state.conv(model.get_layer("stem_conv"), keys(0, 0, 0, "stem_conv"))
    state.batch_norm(model.get_layer("stem_bn"), keys(0, 0, 0, "stem_bn"))
    index, stage = 0, 1
    while blocks := _blocks(model, stage, "_dw_conv"):
        for block in range(1, blocks + 1):
            index += 1
            name = f"stage{stage}_block{block}"
            expands = any(layer.name == f"{name}_expand_conv" for layer in model.layers)
            ops = (("expand_conv", "expand_bn") if expands else ()) + ("dw_conv", "dw_bn", "project_conv", "project_bn")
            for op in ops:
                layer = model.get_layer(f"{name}_{op}")
                prefix = keys(stage, block, index, op if expands else f"t1_{op}")
                if op == "dw_conv":
                    state.depthwise(layer, prefix)
                elif op.endswith("conv"):
                    state.conv(layer, prefix)
                else:
                    state.batch_norm(layer, prefix)
        stage += 1
    state.conv(model.get_layer("top_conv"), keys(0, 0, index + 1, "top_conv"))
    state.batch_norm(model.get_layer("top_bn"), keys(0, 0, index + 1, "top_bn"))
    _classifier(model, state, keys(0, 0, 0, "classifier"))
    state.check_all_used()


_TORCHVISION_MOBILENET_V2 = {
    "stem_conv": "features.0.0", "stem_bn": "features.0.1", "top_conv": "features.{i}.0", "top_bn": "features.{i}.1",
    "classifier": "classifier.1",
    "expand_conv": "features.{i}.conv.0.0", "expand_bn": "features.{i}.conv.0.1",
    "dw_conv": "features.{i}.conv.1.0", "dw_bn": "features.{i}.conv.1.1",
    "project_conv": "features.{i}.conv.2", "project_bn": "features.{i}.conv.3",
    "t1_dw_conv": "features.{i}.conv.0.0", "t1_dw_bn": "features.{i}.conv.0.1",
    "t1_project_conv": "features.{i}.conv.1", "t1_project_bn": "features.{i}.conv.2",
}
_TIMM_MOBILENET_V2 = {
    "stem_conv": "conv_stem", "stem_bn": "bn1", "top_conv": "conv_head", "top_bn": "bn2", "classifier": "classifier",
    "expand_conv": "blocks.{s}.{b}.conv_pw", "expand_bn": "blocks.{s}.{b}.bn1",
    "dw_conv": "blocks.{s}.{b}.conv_dw", "dw_bn": "blocks.{s}.{b}.bn2",
    "project_conv": "blocks.{s}.{b}.conv_pwl", "project_bn": "blocks.{s}.{b}.bn3",
    "t1_dw_conv": "blocks.{s}.{b}.conv_dw", "t1_dw_bn": "blocks.{s}.{b}.bn1",
    "t1_project_conv": "blocks.{s}.{b}.conv_pw", "t1_project_bn": "blocks.{s}.{b}.bn2",
}


def convert_mobilenet_v2_torchvision(model, tensors: Mapping[str, np.ndarray]) -> None:
    _mobilenet_v2(model, tensors, keys=lambda s, b, i, op: _TORCHVISION_MOBILENET_V2[op].format(i=i))


def convert_mobilenet_v2_timm(model, tensors: Mapping[str, np.ndarray]) -> None:
    _mobilenet_v2(model, tensors, keys=lambda s, b, i, op: _TIMM_MOBILENET_V2[op].format(s=s - 1, b=b - 1))


def convert_shufflenet_v2(model, tensors: Mapping[str, np.ndarray]) -> None:
    state = TorchState(tensors)
    state.conv(model.get_layer("stem_conv"), "conv1.0")
    state.batch_norm(model.get_layer("stem_bn"), "conv1.1")
    for stage in (2, 3, 4):
        for block in range(1, _blocks(model, stage, "_shuffle") + 1):
            name, prefix = f"stage{stage}_block{block}", f"stage{stage}.{block - 1}"
            if block == 1:  # the stride-2 unit's left branch
                state.depthwise(model.get_layer(f"{name}_branch1_dw_conv"), f"{prefix}.branch1.0")
                state.batch_norm(model.get_layer(f"{name}_branch1_dw_bn"), f"{prefix}.branch1.1")
                state.conv(model.get_layer(f"{name}_branch1_pw_conv"), f"{prefix}.branch1.2")
                state.batch_norm(model.get_layer(f"{name}_branch1_pw_bn"), f"{prefix}.branch1.3")
            state.conv(model.get_layer(f"{name}_branch2_pw1_conv"), f"{prefix}.branch2.0")
            state.batch_norm(model.get_layer(f"{name}_branch2_pw1_bn"), f"{prefix}.branch2.1")
            state.depthwise(model.get_layer(f"{name}_branch2_dw_conv"), f"{prefix}.branch2.3")
            state.batch_norm(model.get_layer(f"{name}_branch2_dw_bn"), f"{prefix}.branch2.4")
            state.conv(model.get_layer(f"{name}_branch2_pw2_conv"), f"{prefix}.branch2.5")
            state.batch_norm(model.get_layer(f"{name}_branch2_pw2_bn"), f"{prefix}.branch2.6")
    state.conv(model.get_layer("top_conv"), "conv5.0")
    state.batch_norm(model.get_layer("top_bn"), "conv5.1")
    _classifier(model, state, "fc")
    state.check_all_used()


# torchvision's *_Weights enums: IMAGENET1K_V1 ("tv_in1k") and, where it exists, IMAGENET1K_V2 ("tv2_in1k", trained
# with torchvision's new recipe; evaluated after a resize to 232). The default is torchvision's own DEFAULT.
register_weights(
    torchvision_tag("squeezenet1_0_tv", builder="squeezenet1_0", file="squeezenet1_0-b66bff10.pth",
                    top1=58.092, top5=80.420, default=True),
    torchvision_tag("squeezenet1_1_tv", builder="squeezenet1_1", file="squeezenet1_1-b8a52dc0.pth",
                    top1=58.178, top5=80.624, default=True),
    torchvision_tag("mobilenetv2_tv", builder="mobilenet_v2", file="mobilenet_v2-b0353104.pth",
                    top1=71.878, top5=90.286, default=False),
    torchvision_tag("mobilenetv2_tv", builder="mobilenet_v2", file="mobilenet_v2-7ebf99e0.pth",
                    top1=72.154, top5=90.822, default=True, tag="tv2_in1k", resize=232),
    torchvision_tag("shufflenetv2_x0_5_tv", builder="shufflenet_v2_x0_5", file="shufflenetv2_x0.5-f707e7126e.pth",
                    top1=60.552, top5=81.746, default=True),
    torchvision_tag("shufflenetv2_x1_0_tv", builder="shufflenet_v2_x1_0", file="shufflenetv2_x1-5666bf0f80.pth",
                    top1=69.362, top5=88.316, default=True),
    torchvision_tag("shufflenetv2_x1_5_tv", builder="shufflenet_v2_x1_5", file="shufflenetv2_x1_5-3c479a10.pth",
                    top1=72.996, top5=91.086, default=True, resize=232),
    torchvision_tag("shufflenetv2_x2_0_tv", builder="shufflenet_v2_x2_0", file="shufflenetv2_x2_0-8be3c8ee.pth",
                    top1=76.230, top5=93.006, default=True, resize=232),
    timm_tag("mobilenetv2_tv", hub_id="mobilenetv2_100.ra_in1k", mean=IMAGENET_MEAN, std=IMAGENET_STD,
             crop_pct=0.875, interpolation="bicubic"),
)
register_converter("torchvision", "squeezenet1_0_tv", convert_squeezenet)
register_converter("torchvision", "squeezenet1_1_tv", convert_squeezenet)
register_converter("torchvision", "mobilenetv2_tv", convert_mobilenet_v2_torchvision)
register_converter("timm", "mobilenetv2_tv", convert_mobilenet_v2_timm)
for _width in ("x0_5", "x1_0", "x1_5", "x2_0"):
    register_converter("torchvision", f"shufflenetv2_{_width}_tv", convert_shufflenet_v2)
