"""WeightTag makers for torchvision's and timm's published weights (shared by the torch_*/timm_* converter modules).

torchvision: the file URL of a ``*_Weights`` enum entry, the hash prefix of its file name (what ``torch.hub`` checks),
BSD-3-Clause, the enum's ``acc@1``/``acc@5`` and its ``ImageClassification`` preset (resize 256 unless the entry
says otherwise, bilinear, ImageNet mean/std). timm: the Hugging Face hub repo ``timm/<arch>.<tag>`` and its
``model.safetensors``, with the data config of the model's ``pretrained_cfg`` (mean/std, crop_pct, interpolation;
the resize side is ``floor(crop / crop_pct)``, as timm's transforms compute it).
"""

from __future__ import annotations

import math

from kerazoo.applications.pretrained.tags import Preprocessing, WeightTag

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "TORCHVISION_MODELS", "torchvision_tag", "timm_tag"]

TORCHVISION_MODELS = "https://download.pytorch.org/models/"  # where torch.hub fetches every file named below
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def torchvision_tag(model: str, *, builder: str, file: str, top1: float, top5: float, default: bool,
                    tag: str = "tv_in1k", resize: int = 256, crop: int = 224, builder_kwargs=None) -> WeightTag:
    """The tag of one torchvision weights entry for the registry model ``model`` (``builder``: torchvision's
    function name, for the link to its documentation page, where the figures are published; ``file``: the file
    name under ``TORCHVISION_MODELS``)."""
    return WeightTag(
        model=model, tag=tag, source="torchvision", url=TORCHVISION_MODELS + file, filename=file,
        file_hash=file.rsplit("-", 1)[1].split(".")[0],
        preprocessing=Preprocessing("torch", mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=resize, crop=crop,
                                    interpolation="bilinear"),
        input_shape=(crop, crop, 3), license="BSD-3-Clause", top1=top1, top5=top5,
        metrics_link=f"https://docs.pytorch.org/vision/stable/models/generated/torchvision.models.{builder}.html",
        default=default, builder_kwargs=builder_kwargs or {},
    )


def timm_tag(model: str, *, hub_id: str, mean: tuple, std: tuple, crop_pct: float, interpolation: str,
             crop: int = 224, license: str = "Apache-2.0", default: bool = False, top1: float | None = None,
             top5: float | None = None, builder_kwargs=None) -> WeightTag:
    """The tag ``timm/<hub_id>`` of one timm pretrained config for the registry model ``model``."""
    return WeightTag(
        model=model, tag=f"timm/{hub_id}", source="timm", url=f"timm/{hub_id}", filename="model.safetensors",
        file_hash=None,
        preprocessing=Preprocessing("torch", mean=tuple(mean), std=tuple(std), resize=math.floor(crop / crop_pct),
                                    crop=crop, interpolation=interpolation),
        input_shape=(crop, crop, 3), license=license, top1=top1, top5=top5,
        metrics_link=f"https://huggingface.co/timm/{hub_id}", default=default, builder_kwargs=builder_kwargs or {},
    )
