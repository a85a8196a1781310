"""torchvision's and timm's DenseNet-121/161/169/201 weights → kerazoo's DenseNet builders.

Both sources build the network of ``kerazoo.applications.densenet`` layer for layer (7x7/2 stem padded 3 on every
side, max pool padded 1, bottleneck dense layers, 2x2 average-pool transitions, BN-ReLU, global pooling, linear
classifier), so the weights go to the registered ``densenet121`` ... ``densenet201`` unchanged in structure; only
PyTorch's BatchNorm epsilon (1e-5, not keras' 1.001e-5) differs, by a relative 1e-8 in the outputs.

State-dict keys: ``features.conv0`` / ``norm0``, ``features.denseblock{S}.denselayer{B}.norm1/conv1/norm2/conv2``,
``features.transition{S}.norm/conv``, ``features.norm5``, ``classifier``. torchvision's published files still
spell the dense layers' modules ``norm.1``, ``conv.1`` ... (its loader renames them); both spellings are read.
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from kerazoo.applications.pretrained.tags import register_converter, register_weights
from kerazoo.applications.pretrained.torch_layout import TorchState
from kerazoo.applications.pretrained.torch_tags import IMAGENET_MEAN, IMAGENET_STD, timm_tag, torchvision_tag

# torchvision's own renaming of its legacy checkpoints (torchvision/models/densenet.py, _load_state_dict).
_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)

def _modern_keys(tensors: Mapping[str, np.ndarray]) -> dict:
    return {_LEGACY_KEY.sub(r"\1\2", key): value for key, value in tensors.items()}


def convert_densenet(model, tensors: Mapping[str, np.ndarray]) -> None:
    """Assign a torchvision/timm DenseNet state dict to a kerazoo DenseNet (ImageNet stem) built with any blocks."""
    state = TorchState(_modern_keys(tensors))
    names = {layer.name for layer in model.layers}
    state.conv(model.get_layer("stem_conv"), "features.conv0")
    state.batch_norm(model.get_layer("stem_bn"), "features.norm0")
    stage = 1
    while f"stage{stage}_block1_1_conv" in names:
        block = 1
        while f"stage{stage}_block{block}_1_conv" in names:
            torch_layer, keras_layer = f"features.denseblock{stage}.denselayer{block}", f"stage{stage}_block{block}"
            for step in (1, 2):
                state.batch_norm(model.get_layer(f"{keras_layer}_{step}_bn"), f"{torch_layer}.norm{step}")
                state.conv(model.get_layer(f"{keras_layer}_{step}_conv"), f"{torch_layer}.conv{step}")
            block += 1
        if f"stage{stage}_transition_conv" in names:
            state.batch_norm(model.get_layer(f"stage{stage}_transition_bn"), f"features.transition{stage}.norm")
            state.conv(model.get_layer(f"stage{stage}_transition_conv"), f"features.transition{stage}.conv")
        stage += 1
    state.batch_norm(model.get_layer("final_bn"), f"features.norm{stage}")
    if "predictions" in names:
        state.dense(model.get_layer("predictions"), "classifier")
    else:
        state.drop("classifier.")
    state.check_all_used()


# torchvision's DenseNet*_Weights.IMAGENET1K_V1 (ported from LuaTorch). keras.applications publishes DenseNet-121/169/
# 201 too, and its tag is their default; DenseNet-161 has only these.
register_weights(
    torchvision_tag("densenet121", builder="densenet121", file="densenet121-a639ec97.pth",
                    top1=74.434, top5=91.972, default=False),
    torchvision_tag("densenet161", builder="densenet161", file="densenet161-8d451a50.pth",
                    top1=77.138, top5=93.560, default=True),
    torchvision_tag("densenet169", builder="densenet169", file="densenet169-b2777c0a.pth",
                    top1=75.600, top5=92.806, default=False),
    torchvision_tag("densenet201", builder="densenet201", file="densenet201-c1103571.pth",
                    top1=76.896, top5=93.370, default=False),
    # timm's own DenseNet-121 (RandAugment recipe), with its pretrained_cfg's data config.
    timm_tag("densenet121", hub_id="densenet121.ra_in1k", mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=0.875,
             interpolation="bicubic"),
)
for _model in ("densenet121", "densenet161", "densenet169", "densenet201"):
    register_converter("torchvision", _model, convert_densenet)
register_converter("timm", "densenet121", convert_densenet)
