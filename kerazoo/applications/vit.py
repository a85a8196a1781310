"""Vision Transformer (ViT): an image as a sequence of patches, read by a transformer encoder.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale" (ICLR 2021).

    patches (P x P, linear projection = a P-strided P x P convolution) → prepend a learned class token → add learned
    position embeddings → L x [LayerNorm → multi-head self-attention → + ; LayerNorm → MLP (GELU) → +] → LayerNorm
    → class token → Dense ``predictions``

Without the head, the patch tokens (class token dropped) are reshaped back to a (H/P, W/P, D) map — the
``feature_map`` tap at stride P — so ViT is a backbone like any CNN (pooling="avg" averages the patch tokens).
Position embeddings are learned for the input size the model is built with (one per patch).

timm's ``VisionTransformer`` (``vit_*_patch16_224``) is this same network: a class token and one learned position
embedding per token, the class token's included (timm's ``class_token=True``, ``no_embed_class=False``), pre-norm
blocks with LayerNorm epsilon 1e-6, exact GELU, biased q/k/v, a final LayerNorm and the class token to the head
(``global_pool="token"``, no ``fc_norm``). Its weights load layer for layer (the fused ``qkv`` projection split into
Keras' query/key/value), so ``vit_tiny_p16``, ``vit_small_p16`` and ``vit_base_p16`` (ViT-Ti/16, ViT-S/16 of DeiT's
and AugReg's naming, and the paper's ViT-B/16) carry timm's ``timm/vit_*_patch16_224.augreg*`` tags. Position
embeddings are for the input size the model is built with: published 224x224 weights need a 224x224 model.

Why here and not in kerazoo/sequence: ViT is an image backbone with the standard builder arguments and feature taps,
used by classifiers, captioning and dense heads alike; the zoo (one module per family) is where backbones live, and
the registry-wide tests cover it like every other family.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model

__all__ = ["ViTSpec", "ClassToken", "PositionEmbedding", "VisionTransformer", "vit_param_count"]

PAPER = "Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale (2021)"


@dataclass(frozen=True)
class ViTSpec:
    """A ViT configuration: patch size P, width D, depth L, heads and MLP width (Table 1 of the paper)."""

    patch_size: int
    hidden_dim: int
    depth: int
    num_heads: int
    mlp_dim: int


@keras.saving.register_keras_serializable(package="kerazoo")
class ClassToken(keras.layers.Layer):
    """Prepends one learned token (the "[class]" token, BERT's [CLS]) to a (B, N, D) sequence → (B, N + 1, D)."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros", name="token")

    def call(self, tokens):
        batch = keras.ops.shape(tokens)[0]
        token = keras.ops.broadcast_to(keras.ops.cast(self.token, tokens.dtype), (batch, 1, tokens.shape[-1]))
        return keras.ops.concatenate([token, tokens], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


@keras.saving.register_keras_serializable(package="kerazoo")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding per position to a (B, N, D) sequence of fixed length N (N is set at build time).

    A longer sequence than the one built for is an error: the model has no embedding for those positions.
    """

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ValueError("PositionEmbedding needs a fixed sequence length; build it with a known input size.")
        self.length = int(input_shape[1])
        self.embedding = self.add_weight(
            shape=(1, self.length, input_shape[-1]), initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="embedding",
        )

    def call(self, tokens):
        if tokens.shape[1] is not None and tokens.shape[1] > self.length:
            raise ValueError(
                f"Sequence too long for {self.name!r}: it has position embeddings for {self.length} positions. "
                f"Received a sequence of {tokens.shape[1]}."
            )
        return tokens + keras.ops.cast(self.embedding[:, : tokens.shape[1]], tokens.dtype)


def encoder_block(x, *, num_heads: int, mlp_dim: int, dropout: float, name: str):
    """Pre-norm transformer encoder block (Eq. 2-3 of the paper): x + MSA(LN(x)), then x + MLP(LN(x))."""
    dim = x.shape[-1]
    y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    y = keras.layers.MultiHeadAttention(num_heads, dim // num_heads, dropout=dropout, name=f"{name}_attention")(y, y)
    x = keras.layers.Add(name=f"{name}_add1")([x, y])
    y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    y = keras.layers.Dense(mlp_dim, activation="gelu", name=f"{name}_mlp1")(y)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_mlp_dropout")(y)
    y = keras.layers.Dense(dim, name=f"{name}_mlp2")(y)
    return keras.layers.Add(name=f"{name}_add2")([x, y])


def VisionTransformer(spec: ViTSpec, *, include_top, weights, input_tensor, input_shape, pooling, classes,
                      classifier_activation, name, default_shape, dropout: float = 0.0):
    """The generic ViT builder; the registered variants only choose a :class:`ViTSpec`."""
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation, default_shape=default_shape,
        min_size=spec.patch_size,
    )
    dropout = common.check_dropout(dropout)
    height, width, _ = input_shape
    if height is None or width is None or height % spec.patch_size or width % spec.patch_size:
        raise ValueError(
            f"Invalid input_shape: expected a height and width divisible by the patch size {spec.patch_size} "
            f"(position embeddings are per patch). Received: input_shape={input_shape!r}"
        )
    if spec.hidden_dim % spec.num_heads:
        raise ValueError(f"hidden_dim {spec.hidden_dim} is not divisible by num_heads {spec.num_heads}.")
    grid = (height // spec.patch_size, width // spec.patch_size)

    inputs = common.model_input(input_tensor, input_shape)
    x = keras.layers.Conv2D(spec.hidden_dim, spec.patch_size, strides=spec.patch_size, name="stem_patch_embed")(inputs)
    x = keras.layers.Reshape((grid[0] * grid[1], spec.hidden_dim), name="stem_tokens")(x)
    x = ClassToken(name="stem_class_token")(x)
    x = PositionEmbedding(name="stem_position_embedding")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="stem_dropout")(x)
    for i in range(1, spec.depth + 1):
        x = encoder_block(x, num_heads=spec.num_heads, mlp_dim=spec.mlp_dim, dropout=dropout, name=f"encoder{i}")
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)

    if include_top:
        x = keras.layers.Identity(name="class_token_out")(x[:, 0])
        outputs = common.classifier_head(x, include_top=True, pooling=None, classes=classes,
                                         classifier_activation=classifier_activation, dropout=dropout)
    else:
        patches = keras.layers.Identity(name="patch_tokens")(x[:, 1:])
        x = keras.layers.Reshape((*grid, spec.hidden_dim), name="feature_map")(patches)
        outputs = common.classifier_head(x, include_top=False, pooling=pooling, classes=classes,
                                         classifier_activation=classifier_activation)
    return common.finalize(inputs, outputs, name=name, weights=weights, input_tensor=input_tensor)


def vit_param_count(spec: ViTSpec, *, image_size: int, channels: int, classes: int) -> int:
    """Parameters of a ViT by the paper's architecture (Sec. 3.1), counted by hand:

    patch embedding P^2 C D + D; class token D; positions (N + 1) D with N = (image_size / P)^2;
    per layer: 2 LayerNorms 4D, attention 4 (D^2 + D), MLP 2 D M + M + D; final LayerNorm 2D; head D K + K.
    """
    d, m, p = spec.hidden_dim, spec.mlp_dim, spec.patch_size
    patches = (image_size // p) ** 2
    per_layer = 4 * d + 4 * (d * d + d) + 2 * d * m + m + d
    return (p * p * channels * d + d) + d + (patches + 1) * d + spec.depth * per_layer + 2 * d + d * classes + classes


_CIFAR_META = dict(family="vit", paper=PAPER, year=2021, input_shape=(32, 32, 3), dataset="cifar10",
                   feature_taps=(FeatureTap("feature_map", 4),))


@register_model(**_CIFAR_META, name="vit_micro_p4")
def ViTMicroP4(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
               classifier_activation="softmax", name="vit_micro_p4", dropout=0.0):
    """A small ViT for 32 x 32 images (kerazoo's size, not the paper's): 4 x 4 patches, D=64, 6 layers, 4 heads,
    MLP 128 (~0.2M parameters, ResNet-20's size).

    Family arguments:
        dropout: dropout rate after the embeddings, inside each MLP and on the attention weights.
    """
    return VisionTransformer(ViTSpec(4, 64, 6, 4, 128), include_top=include_top, weights=weights,
                             input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                             classifier_activation=classifier_activation, name=name, default_shape=(32, 32, 3),
                             dropout=dropout)


@register_model(family="vit", paper=PAPER, year=2021, input_shape=(224, 224, 3),
                feature_taps=(FeatureTap("feature_map", 16),), tags=("heavy",), name="vit_base_p16")
def ViTBaseP16(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
               classifier_activation="softmax", name="vit_base_p16", dropout=0.0):
    """ViT-Base/16 (Table 1: D=768, 12 layers, 12 heads, MLP 3072; 86M parameters).

    Family arguments:
        dropout: dropout rate after the embeddings, inside each MLP and on the attention weights.
    """
    return VisionTransformer(ViTSpec(16, 768, 12, 12, 3072), include_top=include_top, weights=weights,
                             input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                             classifier_activation=classifier_activation, name=name, default_shape=(224, 224, 3),
                             dropout=dropout)


@register_model(family="vit", paper=PAPER, year=2021, input_shape=(224, 224, 3),
                feature_taps=(FeatureTap("feature_map", 16),), tags=("heavy",), name="vit_small_p16")
def ViTSmallP16(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="vit_small_p16", dropout=0.0):
    """ViT-S/16 (not in the paper: DeiT's and AugReg's "Small", D=384, 12 layers, 6 heads, MLP 1536; 22M
    parameters), timm's ``vit_small_patch16_224``.

    Family arguments:
        dropout: dropout rate after the embeddings, inside each MLP and on the attention weights.
    """
    return VisionTransformer(ViTSpec(16, 384, 12, 6, 1536), include_top=include_top, weights=weights,
                             input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                             classifier_activation=classifier_activation, name=name, default_shape=(224, 224, 3),
                             dropout=dropout)


@register_model(family="vit", paper=PAPER, year=2021, input_shape=(224, 224, 3),
                feature_taps=(FeatureTap("feature_map", 16),), name="vit_tiny_p16")
def ViTTinyP16(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
               classifier_activation="softmax", name="vit_tiny_p16", dropout=0.0):
    """ViT-Ti/16 (not in the paper: DeiT's and AugReg's "Tiny", D=192, 12 layers, 3 heads, MLP 768; 5.7M
    parameters), timm's ``vit_tiny_patch16_224``.

    Family arguments:
        dropout: dropout rate after the embeddings, inside each MLP and on the attention weights.
    """
    return VisionTransformer(ViTSpec(16, 192, 12, 3, 768), include_top=include_top, weights=weights,
                             input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                             classifier_activation=classifier_activation, name=name, default_shape=(224, 224, 3),
                             dropout=dropout)
