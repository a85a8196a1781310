"""Squeeze-and-excitation ResNets (Hu, Shen and Sun, "Squeeze-and-Excitation Networks", CVPR 2018).

Every residual branch ends in a squeeze-and-excitation block (``kerazoo.layers.squeeze_excite``, reduction ratio
r = 16) that rescales its channels before the addition. SE-ResNet-50/101 are the v1 bottleneck ResNets of
``resnet.py`` as in the authors' released Caffe models: bias-free convolutions, the stride on each bottleneck's first
1x1 conv, 1x1 conv + BN projection shortcuts, and SE excitation layers (1x1 convs) with biases. SE-ResNet-50 then has
28,088,024 trainable parameters (28.1M in the paper's table 2; the widely used PyTorch port has the same count) and
SE-ResNet-101 49,326,872; ``count_params()`` adds BatchNorm's moving statistics (2 per BN channel).

``seresnet50_timm`` is timm's ``seresnet50``: the same network with each bottleneck's stride on its 3x3 conv (as
torchvision's ResNet-50 "v1.5"), which has no parameters of its own, so the count is the same; its SE layers equal
timm's ``SEModule`` (hidden width C / 16, biases), so timm's state dicts load unchanged.

SE-ResNet-20 is the CIFAR ResNet-20 of ``resnet.py`` (option-A shortcuts) with an SE block (r = 16, so
max(1, C // 16) hidden units) on each residual branch: 2,373 more parameters than ResNet-20 (272,095 trainable).

Every variant takes ``drop_path_rate`` (stochastic depth, linear decay over blocks, identity at inference).
"""

from __future__ import annotations

from dataclasses import replace

from kerazoo.applications.registry import register_model
from kerazoo.applications.resnet import (
    IMAGENET_SPECS,
    CifarResNet,
    ResNet,
    cifar_taps,
    imagenet_taps,
)

PAPER = "Hu et al., Squeeze-and-Excitation Networks (2018)"

SE_RATIO = 16
SENET_SPECS = {depth: replace(IMAGENET_SPECS[depth], se_ratio=SE_RATIO) for depth in (50, 101)}
# timm's seresnet50 puts the stride on the 3x3 conv.
TIMM_SENET_SPEC = replace(SENET_SPECS[50], stride_in_3x3=True)


def _check_ratio(se_ratio):
    if not isinstance(se_ratio, int) or isinstance(se_ratio, bool) or se_ratio < 1:
        raise ValueError(f"Invalid se_ratio: expected a positive integer. Received: se_ratio={se_ratio!r}")


_META = dict(family="senet", paper=PAPER, year=2018, input_shape=(224, 224, 3), min_input_size=32)


@register_model(**_META, feature_taps=imagenet_taps(SENET_SPECS[50]), reported_top1=76.71, tags=("heavy",))
def SEResNet50(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
               classifier_activation="softmax", name="seresnet50", drop_path_rate=0.0, se_ratio=SE_RATIO):
    """SE-ResNet-50: 28.1M parameters; 23.29 % top-1 error in the paper's table 2 (single 224 crop).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        se_ratio: reduction ratio r of the squeeze-and-excitation blocks (16 in the paper).
    """
    _check_ratio(se_ratio)
    return ResNet(replace(SENET_SPECS[50], se_ratio=se_ratio), include_top=include_top, weights=weights,
                  input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_META, feature_taps=imagenet_taps(SENET_SPECS[101]), reported_top1=77.62, tags=("heavy",))
def SEResNet101(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="seresnet101", drop_path_rate=0.0, se_ratio=SE_RATIO):
    """SE-ResNet-101: 49.3M parameters; 22.38 % top-1 error in the paper's table 2 (single 224 crop).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        se_ratio: reduction ratio r of the squeeze-and-excitation blocks (16 in the paper).
    """
    _check_ratio(se_ratio)
    return ResNet(replace(SENET_SPECS[101], se_ratio=se_ratio), include_top=include_top, weights=weights,
                  input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_META, feature_taps=imagenet_taps(TIMM_SENET_SPEC), reported_top1=76.71, tags=("heavy",))
def SEResNet50_Timm(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name="seresnet50_timm", drop_path_rate=0.0):
    """SE-ResNet-50 as timm's ``seresnet50``: the stride on each bottleneck's 3x3 conv; 28,088,024 parameters.

    Reported top-1: 76.71 % (the paper's table 2, for its stride-on-1x1 network).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(TIMM_SENET_SPEC, include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(family="senet_cifar", paper=PAPER, year=2018, input_shape=(32, 32, 3), dataset="cifar10",
                min_input_size=8, feature_taps=cifar_taps(20))
def SEResNet20(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
               classifier_activation="softmax", name="seresnet20", drop_path_rate=0.0, se_ratio=SE_RATIO):
    """CIFAR SE-ResNet-20 (0.27M parameters); the paper reports no CIFAR result for this depth.

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
        se_ratio: reduction ratio r of the squeeze-and-excitation blocks (16 in the paper).
    """
    _check_ratio(se_ratio)
    return CifarResNet(20, include_top=include_top, weights=weights, input_tensor=input_tensor,
                       input_shape=input_shape, pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                       se_ratio=se_ratio)
