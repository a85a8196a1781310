"""Semantic segmentation heads on any zoo backbone: FCN-8s, U-Net and a SegNet-style decoder.

Each returns per-pixel class logits [B, H, W, classes] at the input's resolution (``classes`` counts the background,
class 0); the training Task adds nothing but the loss. Registered with ``task="segmentation"``:

    create_model("unet", backbone="resnet20", classes=11, input_shape=(96, 96, 1))

- ``fcn8s``: Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation" (CVPR 2015).
  1x1 class scores on the three deepest feature maps, fused by transposed-convolution upsampling (2x, 2x) and a final
  transposed convolution back to the input size.
- ``unet``: Ronneberger, Fischer and Brox, "U-Net" (MICCAI 2015). Transposed-convolution upsampling, concatenation
  with the encoder map at each level (and a full-resolution stem of the image), two 3x3 conv-BN-ReLU per level.
- ``segnet``: Badrinarayanan, Kendall and Cipolla, "SegNet" (TPAMI 2017). The decoder upsamples by max-unpooling:
  each encoder map is max-pooled down to the next level's size with its argmax indices kept, and the decoder writes
  its values back at those positions (``kerazoo.layers.MaxUnpooling2D``), then densifies them with convolutions.
"""

from __future__ import annotations

import keras

from kerazoo.applications.registry import register_model
from kerazoo.layers.unpooling import MaxPoolingWithArgmax2D, MaxUnpooling2D
from kerazoo.vision.backbone import backbone_features, image_input

__all__ = ["FCN8s", "UNet", "SegNet", "conv_bn_relu", "match_size", "head_model", "HEAD_ARGS_DOC"]

PAPER = {
    "fcn8s": ("Long et al., Fully Convolutional Networks for Semantic Segmentation", 2015),
    "unet": ("Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image Segmentation", 2015),
    "segnet": ("Badrinarayanan et al., SegNet: A Deep Convolutional Encoder-Decoder Architecture", 2017),
}


def conv_bn_relu(x, filters: int, *, name: str, kernel_size: int = 3):
    """3x3 convolution, batch normalization, ReLU (layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``)."""
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def match_size(x, size, *, name: str):
    """``x`` resized (bilinear) to ``size`` = (height, width) when its static size differs (odd strides)."""
    if tuple(x.shape[1:3]) == tuple(size):
        return x
    return keras.layers.Resizing(size[0], size[1], interpolation="bilinear", name=f"{name}_resize")(x)


def _ratio(deep: dict, shallow: dict) -> int:
    ratio = deep["reduction"] // shallow["reduction"]
    return max(ratio, 1)


def _upsample(x, filters: int, factor: int, *, name: str):
    """Learned upsampling by ``factor`` (kernel 2 * factor, as FCN initializes it as bilinear)."""
    if factor == 1:
        return x
    return keras.layers.Conv2DTranspose(filters, 2 * factor, strides=factor, padding="same", name=name)(x)


def _logits(x, classes: int, size):
    x = match_size(x, size, name="logits_in")
    return keras.layers.Conv2D(classes, 1, name="logits")(x)


def head_model(inputs, outputs, *, name: str, weights):
    sources = keras.utils.get_source_inputs(inputs)
    model = keras.Model(sources[0] if len(sources) == 1 else sources, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


HEAD_ARGS_DOC = """
    Args:
        backbone: registered classification model with feature taps (``kerazoo models``), e.g. "resnet20",
            "vgg11", "mobilenetv2".
        classes: number of mask classes, background included (Fashion-MNIST scenes: 11).
        input_shape: (height, width, channels) of raw 0-255 pixels (default (96, 96, 1), the scenes' canvas).
        input_tensor: an already normalized image tensor to build on (the training Task passes its
            ``normalize`` layer); without it the model starts with ``images`` → ``normalize``.
        weights: None or a local ``.weights.h5`` file of this head.
        backbone_kwargs: extra backbone builder arguments, e.g. {"alpha": 0.35}.
        name: the model's name.
"""


@register_model(family="fcn", paper=PAPER["fcn8s"][0], year=PAPER["fcn8s"][1], input_shape=(96, 96, 1),
                dataset="fashion_mnist_scenes", task="segmentation", name="fcn8s")
def FCN8s(*, backbone="resnet20", classes=11, input_shape=None, input_tensor=None, weights=None,
          backbone_kwargs=None, name="fcn8s"):
    """FCN-8s: class scores of the three deepest maps fused coarse to fine by transposed convolutions."""
    inputs, x = image_input(input_shape or (96, 96, 1), input_tensor)
    size = tuple(x.shape[1:3])
    features, info = backbone_features(x, backbone, levels=3, min_levels=2, backbone_kwargs=backbone_kwargs)
    level = len(features) - 1
    score = keras.layers.Conv2D(classes, 1, name=f"score{level}")(features[level])
    for level in range(len(features) - 2, -1, -1):
        up = _upsample(score, classes, _ratio(info[level + 1], info[level]), name=f"upscore{level}")
        skip = keras.layers.Conv2D(classes, 1, name=f"score{level}")(features[level])
        up = match_size(up, skip.shape[1:3], name=f"upscore{level}")
        score = keras.layers.Add(name=f"fuse{level}")([up, skip])
    score = _upsample(score, classes, info[0]["reduction"], name="upscore_final")
    outputs = keras.layers.Identity(name="logits")(match_size(score, size, name="logits_in"))
    return head_model(inputs, outputs, name=name, weights=weights)


@register_model(family="unet", paper=PAPER["unet"][0], year=PAPER["unet"][1], input_shape=(96, 96, 1),
                dataset="fashion_mnist_scenes", task="segmentation", name="unet")
def UNet(*, backbone="resnet20", classes=11, input_shape=None, input_tensor=None, weights=None,
         backbone_kwargs=None, name="unet", stem_filters=16, decoder_filters=None):
    """U-Net decoder over up to four backbone levels plus a full-resolution stem (``stem_filters`` channels).

    ``decoder_filters``: the decoder's width at its shallowest backbone level, doubled at each level deeper (the
    paper's 64, 128, 256), at most 256; None (default) takes each level's backbone width instead (thin decoders on
    MobileNet v2: 24, 32, 96).
    """
    inputs, x = image_input(input_shape or (96, 96, 1), input_tensor)
    size = tuple(x.shape[1:3])
    features, info = backbone_features(x, backbone, levels=4, min_levels=2, backbone_kwargs=backbone_kwargs)
    y = features[-1]
    for level in range(len(features) - 2, -1, -1):
        width = info[level]["channels"] if decoder_filters is None else decoder_filters * 2 ** level
        filters = min(width, 256)
        y = _upsample(y, filters, _ratio(info[level + 1], info[level]), name=f"decoder{level}_up")
        y = match_size(y, features[level].shape[1:3], name=f"decoder{level}")
        y = keras.layers.Concatenate(name=f"decoder{level}_concat")([y, features[level]])
        y = conv_bn_relu(conv_bn_relu(y, filters, name=f"decoder{level}_a"), filters, name=f"decoder{level}_b")
    if info[0]["reduction"] > 1:
        y = _upsample(y, stem_filters, info[0]["reduction"], name="decoder_full_up")
        y = match_size(y, size, name="decoder_full")
    stem = conv_bn_relu(x, stem_filters, name="stem_full")
    y = keras.layers.Concatenate(name="decoder_full_concat")([y, stem])
    y = conv_bn_relu(y, stem_filters, name="decoder_full_a")
    return head_model(inputs, _logits(y, classes, size), name=name, weights=weights)


@register_model(family="segnet", paper=PAPER["segnet"][0], year=PAPER["segnet"][1], input_shape=(96, 96, 1),
                dataset="fashion_mnist_scenes", task="segmentation", name="segnet")
def SegNet(*, backbone="resnet20", classes=11, input_shape=None, input_tensor=None, weights=None,
           backbone_kwargs=None, name="segnet"):
    """SegNet-style decoder: max-unpooling with the argmax indices of each encoder level, then conv-BN-ReLU."""
    inputs, x = image_input(input_shape or (96, 96, 1), input_tensor)
    size = tuple(x.shape[1:3])
    features, info = backbone_features(x, backbone, levels=4, min_levels=2, backbone_kwargs=backbone_kwargs)
    y = features[-1]
    for level in range(len(features) - 2, -1, -1):
        encoder = features[level]
        factor = _ratio(info[level + 1], info[level])
        _, indices = MaxPoolingWithArgmax2D(factor, name=f"encoder{level}_argmax_pool")(encoder)
        y = conv_bn_relu(y, info[level]["channels"], name=f"decoder{level}_a")
        y = match_size(y, indices.shape[1:3], name=f"decoder{level}")
        y = MaxUnpooling2D(factor, size=encoder.shape[1:3], name=f"decoder{level}_unpool")([y, indices])
        y = conv_bn_relu(y, min(info[level]["channels"], 256), name=f"decoder{level}_b")
    if info[0]["reduction"] > 1:
        y = keras.layers.UpSampling2D(info[0]["reduction"], interpolation="bilinear", name="decoder_full_up")(y)
        y = conv_bn_relu(y, 32, name="decoder_full")
    return head_model(inputs, _logits(y, classes, size), name=name, weights=weights)


for _builder in (FCN8s, UNet, SegNet):
    _builder.__doc__ = _builder.__doc__.split("\n    Standard arguments")[0] + "\n" + HEAD_ARGS_DOC
