"""ResNeXt (Xie, Girshick, Dollár, Tu and He, "Aggregated Residual Transformations for Deep Neural Networks", 2017).

ResNet-50/101 with every bottleneck's 3x3 conv split into C groups ("cardinality") of d channels each: "32x4d"
means 32 groups of 4 channels at the first stage (an inner width of 128 instead of ResNet's 64), doubling per stage
like the output width. The grouped conv is ``GroupedConv2D(groups=32)`` (``Conv2D(groups=32)``'s weights and
outputs, run on the backend's fast grouped path; the paper's form (c)); as in the paper and torchvision, a block's
stride sits on that 3x3 conv, convolutions have no biases and shortcuts are 1x1 conv + BN projections where the
shape changes. ResNeXt-50 32x4d then has exactly torchvision's ``resnext50_32x4d`` trainable
parameters, 25,028,904 (``count_params()`` adds BatchNorm's moving statistics, 2 per BN channel); ResNeXt-101 32x4d
has 44,177,704 (timm's ``resnext101_32x4d``; 44.2M in the paper). The wider ResNeXt-101 variants that torchvision
and timm publish weights for are registered too: 32x8d (88,791,336, torchvision's ``resnext101_32x8d``) and 64x4d
(83,455,272, torchvision's ``resnext101_64x4d``; the paper's table 3 row). All of them take torchvision's and timm's
state dicts unchanged (``kerazoo.applications.pretrained.torch_resnet``).

Built by ``resnet.ResNet`` from a ``ResNetSpec``; ``drop_path_rate`` adds stochastic depth (linear decay over
blocks, identity at inference) as in every residual family.
"""

from __future__ import annotations

from kerazoo.applications.registry import register_model
from kerazoo.applications.resnet import IMAGENET_BLOCKS, ResNet, ResNetSpec, imagenet_stages, imagenet_taps

PAPER = "Xie et al., Aggregated Residual Transformations for Deep Neural Networks (2017)"

RESNEXT_SPECS = {
    (depth, groups, width): ResNetSpec(
        imagenet_stages(IMAGENET_BLOCKS[depth]), groups=groups, width_per_group=width, stride_in_3x3=True
    )
    for depth, groups, width in ((50, 32, 4), (101, 32, 4), (101, 32, 8), (101, 64, 4))
}

_META = dict(family="resnext", paper=PAPER, year=2017, input_shape=(224, 224, 3), min_input_size=32)


@register_model(**_META, feature_taps=imagenet_taps(RESNEXT_SPECS[50, 32, 4]), reported_top1=77.8, tags=("heavy",))
def ResNeXt50_32x4d(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name="resnext50_32x4d", drop_path_rate=0.0):
    """ResNeXt-50 (32x4d): 25.0M parameters; 22.2 % top-1 error in the paper's table 3 (single 224 crop).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(RESNEXT_SPECS[50, 32, 4], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_META, feature_taps=imagenet_taps(RESNEXT_SPECS[101, 32, 4]), reported_top1=78.8, tags=("heavy",))
def ResNeXt101_32x4d(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name="resnext101_32x4d", drop_path_rate=0.0):
    """ResNeXt-101 (32x4d): 44.2M parameters; 21.2 % top-1 error in the paper's table 3 (single 224 crop).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(RESNEXT_SPECS[101, 32, 4], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_META, feature_taps=imagenet_taps(RESNEXT_SPECS[101, 32, 8]), tags=("heavy",))
def ResNeXt101_32x8d(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name="resnext101_32x8d", drop_path_rate=0.0):
    """ResNeXt-101 (32x8d), torchvision's ``resnext101_32x8d``: 88.8M parameters; not in the paper's tables.

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(RESNEXT_SPECS[101, 32, 8], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)


@register_model(**_META, feature_taps=imagenet_taps(RESNEXT_SPECS[101, 64, 4]), reported_top1=79.6, tags=("heavy",))
def ResNeXt101_64x4d(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                     classes=1000, classifier_activation="softmax", name="resnext101_64x4d", drop_path_rate=0.0):
    """ResNeXt-101 (64x4d): 83.5M parameters; 20.4 % top-1 error in the paper's table 5 (single 224 crop).

    Family arguments:
        drop_path_rate: stochastic-depth drop probability of the last block (linear decay over depth).
    """
    return ResNet(RESNEXT_SPECS[101, 64, 4], include_top=include_top, weights=weights, input_tensor=input_tensor,
                  input_shape=input_shape, pooling=pooling, classes=classes,
                  classifier_activation=classifier_activation, name=name, drop_path_rate=drop_path_rate,
                  conv_bias=False)
