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
from kerazoo.applications import resnet_v2  # noqa: E402,F401
from kerazoo.applications import wide_resnet  # noqa: E402,F401
from kerazoo.applications import resnext  # noqa: E402,F401
from kerazoo.applications import senet  # noqa: E402,F401
from kerazoo.applications import squeezenet  # noqa: E402,F401
from kerazoo.applications import mobilenet  # noqa: E402,F401
from kerazoo.applications import mobilenet_v2  # noqa: E402,F401
from kerazoo.applications import shufflenet_v2  # noqa: E402,F401
from kerazoo.applications import densenet  # noqa: E402,F401
from kerazoo.applications import fractalnet  # noqa: E402,F401
from kerazoo.applications import alexnet  # noqa: E402,F401
from kerazoo.applications import vgg  # noqa: E402,F401
from kerazoo.applications import nin  # noqa: E402,F401
from kerazoo.applications import inception  # noqa: E402,F401
from kerazoo.applications import vit  # noqa: E402,F401
from kerazoo.applications import nas_cnn  # noqa: E402,F401

# Pretrained weights (sources are imported on first use); decode_predictions names ImageNet classes.
from kerazoo.applications import pretrained  # noqa: E402,F401
from kerazoo.applications.pretrained import decode_predictions  # noqa: E402

__all__ = [
    "FeatureTap",
    "ModelEntry",
    "create_model",
    "decode_predictions",
    "get_entry",
    "list_models",
    "model_info",
    "register_model",
]
