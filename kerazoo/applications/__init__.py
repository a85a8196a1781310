"""The zoo: one module per architecture family, every variant a keyword-only builder returning a ``keras.Model``.

    from kerazoo.applications import resnet, create_model, list_models
    model = resnet.ResNet20(input_shape=(28, 28, 1), classes=10)
    model = create_model("resnet20", input_shape=(28, 28, 1), classes=10)
    backbone = create_model("resnet20", features_only=True, input_shape=(64, 64, 3))

Families register themselves on import; they are imported here explicitly, one line each.
"""

from kerazoo.applications.registry import (
    FeatureTap,
    ModelEntry,
    create_model,
    get_entry,
    list_models,
    model_info,
    register_model,
)

# Families (one import each; importing registers their builders).
from kerazoo.applications import lenet  # noqa: E402,F401
from kerazoo.applications import resnet  # noqa: E402,F401

__all__ = [
    "FeatureTap",
    "ModelEntry",
    "create_model",
    "get_entry",
    "list_models",
    "model_info",
    "register_model",
]
