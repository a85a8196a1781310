"""torchvision's and timm's residual networks → kerazoo: ResNet, ResNeXt, Wide ResNet and SE-ResNet weights.

torchvision's ``resnet*``, ``resnext*`` and ``wide_resnet*`` and timm's models of the same names share one state-dict
layout (``conv1``/``bn1``, ``layer{S}.{B}.conv{i}``/``bn{i}``, ``downsample.0``/``.1``, ``fc``; timm's SE-ResNet adds
``se.fc1``/``se.fc2``), and kerazoo's ImageNet ResNet builder names its layers by the same positions (``stem_*``,
``stage{S}_block{B+1}_{i}_*``, ``_0_*``, ``_se_reduce``/``_se_expand``, ``predictions``), so one converter walks the
kerazoo model's blocks and takes each one's tensors. Which kerazoo variant each source network is:

- ResNet-18/34: ``resnet18``/``resnet34`` with ``conv_bias=False`` (the tags' ``builder_kwargs``).
- ResNet-50/101/152: ``resnet50_tv``/``resnet101_tv``/``resnet152_tv`` (the stride on the bottleneck's 3x3 conv,
  "v1.5", and bias-free convolutions; kerazoo's ``resnet50`` is keras.applications' v1).
- ResNeXt-50 32x4d, ResNeXt-101 32x8d and 64x4d: ``resnext50_32x4d``, ``resnext101_32x8d``, ``resnext101_64x4d``.
- Wide ResNet-50-2/101-2: ``wide_resnet50_2``/``wide_resnet101_2``.
- timm's SE-ResNet-50: ``seresnet50_timm`` (the stride on the 3x3 conv).

The one numerical difference left is BatchNorm's epsilon (kerazoo's ResNets use keras.applications' 1.001e-5,
PyTorch 1e-5): a relative change of the normalised activations below 1e-6, far inside the parity tests' tolerance.

Tags: ``"tv_in1k"`` (torchvision's IMAGENET1K_V1), ``"tv2_in1k"`` (IMAGENET1K_V2, torchvision's default where it
exists, so it is the models' default here too) and ``"timm/<hub id>"`` (timm's own training recipes). The figures are
the ones torchvision publishes in its weight metadata; timm publishes its figures in its results tables, not in the
package, so its tags carry none.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from kerazoo.applications.pretrained.tags import Preprocessing, WeightTag, register_converter, register_weights
from kerazoo.applications.pretrained.torch_layout import TorchState

__all__ = ["convert_resnet", "convert_head", "torchvision_tag", "timm_tag"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def convert_resnet(model, tensors: Mapping[str, np.ndarray]) -> None:
    """Assign a torchvision/timm ResNet, ResNeXt, Wide ResNet or SE-ResNet state dict to a kerazoo ImageNet ResNet."""
    state = TorchState(tensors)
    names = {layer.name for layer in model.layers}
    state.conv(model.get_layer("stem_conv"), "conv1")
    state.batch_norm(model.get_layer("stem_bn"), "bn1")
    stage = 1
    while f"stage{stage}_block1_1_conv" in names:
        block = 1
        while f"stage{stage}_block{block}_1_conv" in names:
            _convert_block(model, state, names, name=f"stage{stage}_block{block}", prefix=f"layer{stage}.{block - 1}")
            block += 1
        stage += 1
    convert_head(model, state, names, "fc")
    state.check_all_used()


def _convert_block(model, state: TorchState, names: set, *, name: str, prefix: str) -> None:
    conv = 1
    while f"{name}_{conv}_conv" in names:
        state.conv(model.get_layer(f"{name}_{conv}_conv"), f"{prefix}.conv{conv}")
        state.batch_norm(model.get_layer(f"{name}_{conv}_bn"), f"{prefix}.bn{conv}")
        conv += 1
    if f"{name}_0_conv" in names:
        state.conv(model.get_layer(f"{name}_0_conv"), f"{prefix}.downsample.0")
        state.batch_norm(model.get_layer(f"{name}_0_bn"), f"{prefix}.downsample.1")
    if f"{name}_se_reduce" in names:
        state.conv(model.get_layer(f"{name}_se_reduce"), f"{prefix}.se.fc1")
        state.conv(model.get_layer(f"{name}_se_expand"), f"{prefix}.se.fc2")


def convert_head(model, state: TorchState, names: set, prefix: str, *, kernel=None) -> None:
    """The classifier ``prefix`` into ``predictions``; a model built without a top leaves the file's classifier out."""
    if "predictions" in names:
        state.dense(model.get_layer("predictions"), prefix, kernel=kernel)
    else:
        state.take(f"{prefix}.weight")
        state.take(f"{prefix}.bias")


def torchvision_tag(model: str, tag: str, *, builder: str, url: str, top1: float, top5: float, resize: int = 256,
                    default: bool = False, builder_kwargs: Mapping | None = None) -> WeightTag:
    """A torchvision ImageNet-1k tag: BSD-3-Clause, mean/std normalisation, bilinear resize then a 224 centre crop."""
    return WeightTag(
        model=model, tag=tag, source="torchvision", url=url, filename=url.rsplit("/", 1)[-1],
        file_hash=url.rsplit("-", 1)[-1].split(".")[0],
        preprocessing=Preprocessing("torch", mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=resize, crop=224,
                                    interpolation="bilinear"),
        license="BSD-3-Clause", top1=top1, top5=top5,
        metrics_link=f"https://pytorch.org/vision/stable/models/generated/torchvision.models.{builder}.html",
        default=default, builder_kwargs=dict(builder_kwargs or {}),
    )


def timm_tag(model: str, hub_id: str, *, crop_pct: float, interpolation: str = "bicubic", default: bool = False,
             license: str = "Apache-2.0", builder_kwargs: Mapping | None = None) -> WeightTag:
    """A timm ImageNet-1k tag from its pretrained config (``crop_pct``, ``interpolation``, ``license``; ImageNet
    mean/std): ``model.safetensors`` of the hub repo ``timm/<hub_id>``."""
    return WeightTag(
        model=model, tag=f"timm/{hub_id}", source="timm", url=f"timm/{hub_id}", filename="model.safetensors",
        file_hash=None,
        # timm's eval transform: resize the shorter side to floor(224 / crop_pct), centre crop 224.
        preprocessing=Preprocessing("torch", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                                    resize=math.floor(224 / crop_pct), crop=224, interpolation=interpolation),
        license=license, metrics_link=f"https://huggingface.co/timm/{hub_id}",
        default=default, builder_kwargs=dict(builder_kwargs or {}),
    )


_BIAS_FREE = {"conv_bias": False}
_DOWNLOADS = "https://download.pytorch.org/models/"

# torchvision's weights enums (torchvision/models/resnet.py): V1 evaluates at resize 256, V2 at resize 232.
TORCHVISION_TAGS = (
    torchvision_tag("resnet18", "tv_in1k", builder="resnet18", url=_DOWNLOADS + "resnet18-f37072fd.pth",
                    top1=69.758, top5=89.078, default=True, builder_kwargs=_BIAS_FREE),
    torchvision_tag("resnet34", "tv_in1k", builder="resnet34", url=_DOWNLOADS + "resnet34-b627a593.pth",
                    top1=73.314, top5=91.420, default=True, builder_kwargs=_BIAS_FREE),
    torchvision_tag("resnet50_tv", "tv_in1k", builder="resnet50", url=_DOWNLOADS + "resnet50-0676ba61.pth",
                    top1=76.130, top5=92.862),
    torchvision_tag("resnet50_tv", "tv2_in1k", builder="resnet50", url=_DOWNLOADS + "resnet50-11ad3fa6.pth",
                    top1=80.858, top5=95.434, resize=232, default=True),
    torchvision_tag("resnet101_tv", "tv_in1k", builder="resnet101", url=_DOWNLOADS + "resnet101-63fe2227.pth",
                    top1=77.374, top5=93.546),
    torchvision_tag("resnet101_tv", "tv2_in1k", builder="resnet101", url=_DOWNLOADS + "resnet101-cd907fc2.pth",
                    top1=81.886, top5=95.780, resize=232, default=True),
    torchvision_tag("resnet152_tv", "tv_in1k", builder="resnet152", url=_DOWNLOADS + "resnet152-394f9c45.pth",
                    top1=78.312, top5=94.046),
    torchvision_tag("resnet152_tv", "tv2_in1k", builder="resnet152", url=_DOWNLOADS + "resnet152-f82ba261.pth",
                    top1=82.284, top5=96.002, resize=232, default=True),
    torchvision_tag("resnext50_32x4d", "tv_in1k", builder="resnext50_32x4d",
                    url=_DOWNLOADS + "resnext50_32x4d-7cdf4587.pth", top1=77.618, top5=93.698),
    torchvision_tag("resnext50_32x4d", "tv2_in1k", builder="resnext50_32x4d",
                    url=_DOWNLOADS + "resnext50_32x4d-1a0047aa.pth", top1=81.198, top5=95.340, resize=232,
                    default=True),
    torchvision_tag("resnext101_32x8d", "tv_in1k", builder="resnext101_32x8d",
                    url=_DOWNLOADS + "resnext101_32x8d-8ba56ff5.pth", top1=79.312, top5=94.526),
    torchvision_tag("resnext101_32x8d", "tv2_in1k", builder="resnext101_32x8d",
                    url=_DOWNLOADS + "resnext101_32x8d-110c445d.pth", top1=82.834, top5=96.228, resize=232,
                    default=True),
    # torchvision names its only ResNeXt-101 64x4d weights IMAGENET1K_V1, trained with the V2 recipe (resize 232).
    torchvision_tag("resnext101_64x4d", "tv_in1k", builder="resnext101_64x4d",
                    url=_DOWNLOADS + "resnext101_64x4d-173b62eb.pth", top1=83.246, top5=96.454, resize=232,
                    default=True),
    torchvision_tag("wide_resnet50_2", "tv_in1k", builder="wide_resnet50_2",
                    url=_DOWNLOADS + "wide_resnet50_2-95faca4d.pth", top1=78.468, top5=94.086),
    torchvision_tag("wide_resnet50_2", "tv2_in1k", builder="wide_resnet50_2",
                    url=_DOWNLOADS + "wide_resnet50_2-9ba9bcbe.pth", top1=81.602, top5=95.758, resize=232,
                    default=True),
    torchvision_tag("wide_resnet101_2", "tv_in1k", builder="wide_resnet101_2",
                    url=_DOWNLOADS + "wide_resnet101_2-32ee1156.pth", top1=78.848, top5=94.284),
    torchvision_tag("wide_resnet101_2", "tv2_in1k", builder="wide_resnet101_2",
                    url=_DOWNLOADS + "wide_resnet101_2-d733dc28.pth", top1=82.510, top5=96.020, resize=232,
                    default=True),
)

# timm's own recipes (timm/models/resnet.py default_cfgs): "a1"/"a1h" are the ResNet-strikes-back runs (_rcfg:
# crop_pct 0.95, bicubic), "racm"/"ra2" timm's RandAugment runs (_ttcfg: crop_pct 0.875, bicubic), "c1" _rcfg.
# timm's re-hosted torchvision weights ("<name>.tv_in1k") are the torchvision tags above.
TIMM_TAGS = (
    timm_tag("resnet18", "resnet18.a1_in1k", crop_pct=0.95, builder_kwargs=_BIAS_FREE),
    timm_tag("resnet34", "resnet34.a1_in1k", crop_pct=0.95, builder_kwargs=_BIAS_FREE),
    timm_tag("resnet50_tv", "resnet50.a1_in1k", crop_pct=0.95),
    timm_tag("resnet101_tv", "resnet101.a1h_in1k", crop_pct=0.95),
    timm_tag("resnet152_tv", "resnet152.a1h_in1k", crop_pct=0.95),
    timm_tag("resnext50_32x4d", "resnext50_32x4d.a1h_in1k", crop_pct=0.95),
    timm_tag("resnext101_64x4d", "resnext101_64x4d.c1_in1k", crop_pct=0.95),
    # Facebook's Instagram-pretrained ResNeXt (WSL), fine-tuned on ImageNet-1k: non-commercial use only (_cfg).
    timm_tag("resnext101_32x8d", "resnext101_32x8d.fb_wsl_ig1b_ft_in1k", crop_pct=0.875, interpolation="bilinear",
             license="CC-BY-NC-4.0"),
    timm_tag("wide_resnet50_2", "wide_resnet50_2.racm_in1k", crop_pct=0.875),
    timm_tag("seresnet50_timm", "seresnet50.a1_in1k", crop_pct=0.95, default=True),
    timm_tag("seresnet50_timm", "seresnet50.ra2_in1k", crop_pct=0.875),
)

register_weights(*TORCHVISION_TAGS, *TIMM_TAGS)
for _tag in TORCHVISION_TAGS + TIMM_TAGS:
    register_converter(_tag.source, _tag.model, convert_resnet)
