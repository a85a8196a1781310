"""Classification plus localization: one object per image, its class and its box, from a shared backbone.

The lecture's first "where is it" model: global-average-pooled backbone features feed a softmax head (``class``,
logits) and a box-regression head (``box``: center and size through sigmoids, returned as corners in fractions of the
image, Keras ``"rel_xyxy"``).
Training sums cross-entropy and ``box_weight`` times an L2 or smooth-L1 (Huber; Girshick, "Fast R-CNN", 2015) box
loss: the multi-task loss (see ``kerazoo.vision.tasks.LocalizationTask``).

    model = create_model("localizer", backbone="resnet20", classes=10, input_shape=(96, 96, 1))
    outputs = model(images)        # {"class": [B, 10] logits, "box": [B, 4] rel_xyxy}
"""

from __future__ import annotations

import keras

from kerazoo.applications.registry import register_model
from kerazoo.vision.backbone import backbone_features, image_input
from kerazoo.vision.segmentation import HEAD_ARGS_DOC, head_model

__all__ = ["Localizer"]


@register_model(family="localizer", paper="Sermanet et al., OverFeat (classification + localization)", year=2014,
                input_shape=(96, 96, 1), dataset="fashion_mnist_scenes", task="localization", name="localizer")
def Localizer(*, backbone="resnet20", classes=10, input_shape=None, input_tensor=None, weights=None,
              backbone_kwargs=None, name="localizer", hidden=128):
    """Softmax head and box-regression head on the pooled deepest backbone map (``hidden`` units shared)."""
    inputs, x = image_input(input_shape or (96, 96, 1), input_tensor)
    features, _ = backbone_features(x, backbone, levels=1, backbone_kwargs=backbone_kwargs)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features[-1])
    shared = keras.layers.Dense(hidden, activation="relu", name="head_fc")(pooled)
    # Center and size through sigmoids, then corners: every predicted box is valid (x1 <= x2, y1 <= y2).
    center = keras.layers.Dense(2, activation="sigmoid", name="box_center")(shared)
    half = keras.layers.Rescaling(0.5, name="box_half_size")(
        keras.layers.Dense(2, activation="sigmoid", name="box_size")(shared))
    corners = [keras.layers.Subtract(name="box_min")([center, half]), keras.layers.Add(name="box_max")([center, half])]
    outputs = {
        "class": keras.layers.Dense(classes, name="class")(shared),
        "box": keras.layers.Concatenate(name="box")(corners),
    }
    return head_model(inputs, outputs, name=name, weights=weights)


Localizer.__doc__ = Localizer.__doc__.split("\n    Standard arguments")[0] + "\n" + HEAD_ARGS_DOC.replace(
    "number of mask classes, background included (Fashion-MNIST scenes: 11)", "number of object classes")
