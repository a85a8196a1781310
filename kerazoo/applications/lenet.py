"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document recognition", 1998).

C1 conv 6@5x5 → S2 2x2 average subsampling → C3 conv 16@5x5 → S4 → C5 conv 120@5x5 → F6 dense 84 → output.
Differences from the paper, as in most modern reimplementations: C3 connects to all six S2 maps (the paper's
sparse connection table gives 1,516 C3 parameters instead of 2,416), subsampling has no trainable coefficient, and
the output layer is a Dense softmax instead of Euclidean RBF units. With 32x32x1 inputs and 10 classes this gives
61,706 parameters. Inputs smaller than 32x32 (MNIST's 28x28) are zero-padded to 32x32, as the paper did.
"""

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model

PAPER = "LeCun et al., Gradient-Based Learning Applied to Document Recognition (1998)"


@register_model(
    family="lenet",
    paper=PAPER,
    year=1998,
    input_shape=(32, 32, 1),
    dataset="mnist",
    reported_top1=99.05,  # 0.95 % test error on MNIST without distortions
    feature_taps=(FeatureTap("s2_pool", 2), FeatureTap("s4_pool", 4)),
    min_input_size=16,
)
def LeNet5(
    *,
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes: int = 10,
    classifier_activation="softmax",
    name: str = "lenet5",
    activation: str = "tanh",
):
    """LeNet-5.

    Family arguments:
        activation: hidden-layer activation; "tanh" as in the paper (default) or e.g. "relu".
    """
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(32, 32, 1), min_size=16,
    )
    inputs = common.model_input(input_tensor, input_shape)
    x = inputs
    height, width = input_shape[:2]
    pad_h = max(0, 32 - height) if height is not None else 0
    pad_w = max(0, 32 - width) if width is not None else 0
    if pad_h or pad_w:
        x = keras.layers.ZeroPadding2D(
            ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)), name="pad"
        )(x)
    x = keras.layers.Conv2D(6, 5, activation=activation, name="c1_conv")(x)
    x = keras.layers.AveragePooling2D(2, name="s2_pool")(x)
    x = keras.layers.Conv2D(16, 5, activation=activation, name="c3_conv")(x)
    x = keras.layers.AveragePooling2D(2, name="s4_pool")(x)
    x = keras.layers.Conv2D(120, 5, activation=activation, name="c5_conv")(x)
    if include_top:
        x = keras.layers.Flatten(name="c5_flatten")(x)
        x = keras.layers.Dense(84, activation=activation, name="f6_dense")(x)
        x = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.classifier_head(
            x, include_top=False, pooling=pooling, classes=classes, classifier_activation=classifier_activation
        )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)
