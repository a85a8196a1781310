"""timm's ViT-Ti/16, ViT-S/16 and ViT-B/16 weights → kerazoo's ``vit_tiny_p16``, ``vit_small_p16``, ``vit_base_p16``.

timm's ``VisionTransformer`` and ``kerazoo.applications.vit`` are the same network (see vit.py's docstring). State-dict
keys: ``patch_embed.proj`` (the patch convolution), ``cls_token`` (1, 1, D), ``pos_embed`` (1, 1 + N, D: the class
token's position first), ``blocks.{i}.norm1``, ``.attn.qkv`` (one (3D, D) linear layer: query, key and value rows
in that order, each split into heads of D / H), ``.attn.proj``, ``.norm2``, ``.mlp.fc1``, ``.mlp.fc2``, then
``norm`` and ``head``. Keras' MultiHeadAttention keeps per-head kernels: query/key/value (D, H, D / H) with biases
(H, D / H), and the output projection (H, D / H, D).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from kerazoo.applications.pretrained.tags import register_converter, register_weights
from kerazoo.applications.pretrained.torch_layout import TorchState, dense_kernel
from kerazoo.applications.pretrained.torch_tags import timm_tag


def _layer_norm(model, state: TorchState, name: str, prefix: str) -> None:
    layer = model.get_layer(name)
    state.assign(layer, [state.take(f"{prefix}.weight", layer), state.take(f"{prefix}.bias", layer)])


def _attention(model, state: TorchState, name: str, prefix: str) -> None:
    layer = model.get_layer(name)
    heads, head_dim = layer.num_heads, layer.key_dim
    qkv_weight, qkv_bias = state.take(f"{prefix}.qkv.weight", layer), state.take(f"{prefix}.qkv.bias", layer)
    proj_weight, proj_bias = state.take(f"{prefix}.proj.weight", layer), state.take(f"{prefix}.proj.bias", layer)
    if qkv_weight.shape[0] != 3 * heads * head_dim:
        raise ValueError(
            f"Layer {name!r} expects a qkv projection of {3 * heads * head_dim} rows ({heads} heads of {head_dim}), "
            f"the file gives {qkv_weight.shape[0]}: the file was saved from another architecture or variant."
        )
    arrays = []
    for weight, bias in zip(np.split(qkv_weight, 3), np.split(qkv_bias, 3)):  # query, key, value
        arrays += [dense_kernel(weight).reshape(-1, heads, head_dim), bias.reshape(heads, head_dim)]
    arrays += [dense_kernel(proj_weight).reshape(heads, head_dim, -1), proj_bias]
    state.assign(layer, arrays)


def convert_vit(model, tensors: Mapping[str, np.ndarray]) -> None:
    state = TorchState(tensors)
    names = {layer.name for layer in model.layers}
    state.conv(model.get_layer("stem_patch_embed"), "patch_embed.proj")
    for name, key in (("stem_class_token", "cls_token"), ("stem_position_embedding", "pos_embed")):
        layer = model.get_layer(name)
        state.assign(layer, [state.take(key, layer)])
    block = 1
    while f"encoder{block}_attention" in names:
        name, prefix = f"encoder{block}", f"blocks.{block - 1}"
        _layer_norm(model, state, f"{name}_ln1", f"{prefix}.norm1")
        _attention(model, state, f"{name}_attention", f"{prefix}.attn")
        _layer_norm(model, state, f"{name}_ln2", f"{prefix}.norm2")
        state.dense(model.get_layer(f"{name}_mlp1"), f"{prefix}.mlp.fc1")
        state.dense(model.get_layer(f"{name}_mlp2"), f"{prefix}.mlp.fc2")
        block += 1
    _layer_norm(model, state, "encoder_norm", "norm")
    if "predictions" in names:
        state.dense(model.get_layer("predictions"), "head")
    else:
        state.drop("head.")
    state.check_all_used()


# The pretrained_cfg of each hub id (timm 1.0): Inception mean/std (0.5), crop_pct 0.9, bicubic, Apache-2.0.
_AUGREG = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_pct=0.9, interpolation="bicubic")
# Every ImageNet-1k classifier timm publishes for these three (the in21k, self-supervised and other-head ones are not
# 1000-class classifiers); the default is timm's own first (best) tag with 1000 classes.
register_weights(
    timm_tag("vit_base_p16", hub_id="vit_base_patch16_224.augreg2_in21k_ft_in1k", default=True, **_AUGREG),
    timm_tag("vit_base_p16", hub_id="vit_base_patch16_224.augreg_in21k_ft_in1k", **_AUGREG),
    timm_tag("vit_base_p16", hub_id="vit_base_patch16_224.augreg_in1k", **_AUGREG),
    timm_tag("vit_base_p16", hub_id="vit_base_patch16_224.orig_in21k_ft_in1k", **_AUGREG),
    timm_tag("vit_base_p16", hub_id="vit_base_patch16_224.sam_in1k", **_AUGREG),
    timm_tag("vit_small_p16", hub_id="vit_small_patch16_224.augreg_in21k_ft_in1k", default=True, **_AUGREG),
    timm_tag("vit_small_p16", hub_id="vit_small_patch16_224.augreg_in1k", **_AUGREG),
    timm_tag("vit_tiny_p16", hub_id="vit_tiny_patch16_224.augreg_in21k_ft_in1k", default=True, **_AUGREG),
)
for _model in ("vit_base_p16", "vit_small_p16", "vit_tiny_p16"):
    register_converter("timm", _model, convert_vit)
