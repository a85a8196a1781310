"""keras.applications' ImageNet weights: the published ``.h5`` files (URLs and hashes copied from keras' own
``keras/src/applications/*.py``) and the converter into the matching kerazoo builders.

The kerazoo builders equal keras.applications layer for layer (see each builder's docstring), so a file's weighted
layers, in the file's order, map one to one onto the model's weighted layers in ``model.layers`` order. The one
exception in shape is MobileNet's classifier: keras' 1x1 convolution ``conv_preds`` (1, 1, C, classes) is kerazoo's
Dense ``predictions`` (C, classes), the same numbers. A "notop" file maps onto a model without its classifier; a
top file onto one without it too (the classifier's layers, last in the file, are left out).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from kerazoo.applications.pretrained.tags import Preprocessing, WeightTag, register_converter, register_weights

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
LINK = "https://keras.io/api/applications/"

CAFFE = Preprocessing("caffe", resize=256, crop=224)  # keras' ResNet50/101/152, VGG16/19
TF_224 = Preprocessing("tf", resize=256, crop=224)  # MobileNet, MobileNetV2, ResNetV2
TF_299 = Preprocessing("tf", resize=342, crop=299)  # InceptionV3
TORCH = Preprocessing("torch", resize=256, crop=224)  # DenseNet (keras' "torch" mode)

# (registry name, keras file stem, top md5, notop md5, preprocessing, license, top-1, top-5) as keras publishes them.
_TF_DIM = "_weights_tf_dim_ordering_tf_kernels"
_FILES = (
    ("resnet50", "resnet/resnet50", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626",
     CAFFE, "MIT", 74.9, 92.1),
    ("resnet101", "resnet/resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21",
     CAFFE, "MIT", 76.4, 92.8),
    ("resnet152", "resnet/resnet152", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c",
     CAFFE, "MIT", 76.6, 93.1),
    ("resnet50v2", "resnet/resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917",
     TF_224, "MIT", 76.0, 93.0),
    ("resnet101v2", "resnet/resnet101v2", "6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5",
     TF_224, "MIT", 77.2, 93.8),
    ("resnet152v2", "resnet/resnet152v2", "a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33",
     TF_224, "MIT", 78.0, 94.2),
    ("vgg16", "vgg16/vgg16", "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc",
     CAFFE, "CC BY 4.0", 71.3, 90.1),
    ("vgg19", "vgg19/vgg19", "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6",
     CAFFE, "CC BY 4.0", 71.3, 90.0),
    ("inceptionv3", "inception_v3/inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564",
     "bcbd6486424b2319ff4ef7d526e38f63", TF_299, "Apache-2.0", 77.9, 93.7),
    ("densenet121", "densenet/densenet121", "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738",
     TORCH, "BSD-3-Clause", 75.0, 92.3),
    ("densenet169", "densenet/densenet169", "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b",
     TORCH, "BSD-3-Clause", 76.2, 93.2),
    ("densenet201", "densenet/densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1",
     TORCH, "BSD-3-Clause", 77.3, 93.6),
)


def _tags_of_file(model, stem, top_hash, notop_hash, preprocessing, license, top1, top5) -> tuple[WeightTag, ...]:
    folder, name = stem.split("/")
    shape = (preprocessing.crop, preprocessing.crop, 3)
    common = dict(model=model, source="keras", preprocessing=preprocessing, input_shape=shape, license=license,
                  metrics_link=LINK)
    top = f"{name}{_TF_DIM}.h5"
    notop = f"{name}{_TF_DIM}_notop.h5"
    return (
        WeightTag(tag="keras_in1k", url=f"{BASE_URL}{folder}/{top}", filename=top, file_hash=top_hash,
                  top1=top1, top5=top5, default=True, **common),
        WeightTag(tag="keras_in1k_notop", url=f"{BASE_URL}{folder}/{notop}", filename=notop, file_hash=notop_hash,
                  include_top=False, **common),
    )


# MobileNet v1: every alpha at every resolution keras publishes (keras publishes no hashes for them). The registry
# has one model per alpha; the resolution is the tag's input size.
_MOBILENET_ALPHAS = {"mobilenet": "1_0", "mobilenet_075": "7_5", "mobilenet_050": "5_0", "mobilenet_025": "2_5"}
_MOBILENET_TOP1 = {"mobilenet": (70.4, 89.5)}  # keras.io's table lists the alpha 1.0, 224 model only
_RESOLUTIONS = (224, 192, 160, 128)


def _mobilenet_tags() -> list[WeightTag]:
    tags = []
    for model, alpha_text in _MOBILENET_ALPHAS.items():
        for rows in _RESOLUTIONS:
            suffix = "" if rows == 224 else f"_r{rows}"
            preprocessing = Preprocessing("tf", resize=round(rows / 0.875), crop=rows)
            common = dict(model=model, source="keras", preprocessing=preprocessing, input_shape=(rows, rows, 3),
                          license="Apache-2.0", metrics_link=LINK, file_hash=None)
            top, notop = f"mobilenet_{alpha_text}_{rows}_tf.h5", f"mobilenet_{alpha_text}_{rows}_tf_no_top.h5"
            figures = _MOBILENET_TOP1.get(model, (None, None)) if rows == 224 else (None, None)
            tags.append(WeightTag(tag=f"keras_in1k{suffix}", url=f"{BASE_URL}mobilenet/{top}", filename=top,
                                  top1=figures[0], top5=figures[1], default=rows == 224, **common))
            tags.append(WeightTag(tag=f"keras_in1k{suffix}_notop", url=f"{BASE_URL}mobilenet/{notop}",
                                  filename=notop, include_top=False, **common))
    return tags


# MobileNetV2: every alpha keras publishes, at 224. 0.35 and 1.4 have models of their own; 0.5, 0.75 and 1.3 are
# the ``alpha`` argument of "mobilenetv2", under tags named by the width in percent.
_MOBILENET_V2 = (
    ("mobilenetv2", 1.0, ""), ("mobilenetv2_035", 0.35, ""), ("mobilenetv2_140", 1.4, ""),
    ("mobilenetv2", 0.5, "_a050"), ("mobilenetv2", 0.75, "_a075"), ("mobilenetv2", 1.3, "_a130"),
)


def _mobilenet_v2_tags() -> list[WeightTag]:
    tags = []
    for model, alpha, suffix in _MOBILENET_V2:
        common = dict(model=model, source="keras", preprocessing=TF_224, license="Apache-2.0", metrics_link=LINK,
                      file_hash=None, builder_kwargs={"alpha": alpha} if suffix else {})
        top = f"mobilenet_v2{_TF_DIM}_{alpha}_224.h5"
        notop = f"mobilenet_v2{_TF_DIM}_{alpha}_224_no_top.h5"
        figures = (71.3, 90.1) if model == "mobilenetv2" and not suffix else (None, None)
        tags.append(WeightTag(tag=f"keras_in1k{suffix}", url=f"{BASE_URL}mobilenet_v2/{top}", filename=top,
                              top1=figures[0], top5=figures[1], default=not suffix, **common))
        tags.append(WeightTag(tag=f"keras_in1k{suffix}_notop", url=f"{BASE_URL}mobilenet_v2/{notop}",
                              filename=notop, include_top=False, **common))
    return tags


def _file_layers(tensors: Mapping[str, np.ndarray]) -> list[tuple[str, list[np.ndarray]]]:
    """The file's weighted layers in order, each with its arrays in the file's order."""
    layers: dict[str, list[np.ndarray]] = {}
    for key, array in tensors.items():
        layers.setdefault(key.rsplit("/", 1)[0], []).append(array)
    return list(layers.items())


def _fit(array: np.ndarray, shape: tuple) -> np.ndarray | None:
    """``array`` in ``shape``: as is, or with leading 1-sized axes dropped (keras' 1x1 conv_preds → a Dense)."""
    if array.shape == shape:
        return array
    if array.size == int(np.prod(shape)) and tuple(d for d in array.shape if d != 1) == tuple(d for d in shape if d != 1):
        return array.reshape(shape)
    return None


def convert(model, tensors: Mapping[str, np.ndarray]) -> None:
    """Assign a keras.applications file's weights to the kerazoo model, weighted layer by weighted layer."""
    targets = [layer for layer in model.layers if layer.weights]
    sources = _file_layers(tensors)
    head = {"predictions"} | {layer.name for layer in targets if layer.name.startswith("head_")}
    has_head = any(layer.name in head for layer in targets)
    if not has_head and len(sources) > len(targets):
        sources = sources[: len(targets)]  # a top file into a model without its classifier: drop the head's layers
    values = []
    for i, layer in enumerate(targets):
        shapes = [tuple(w.shape) for w in layer.weights]
        if i >= len(sources):
            raise ValueError(
                f"The weights file has {len(sources)} weighted layers and model {model.name!r} more: layer "
                f"{layer.name!r} {shapes} has no counterpart (a file of another architecture, or a notop file for a "
                "model with its classifier?)."
            )
        source_name, arrays = sources[i]
        fitted = [_fit(a, s) for a, s in zip(arrays, shapes)] if len(arrays) == len(shapes) else [None]
        if any(f is None for f in fitted):
            raise ValueError(
                f"Weights do not fit model {model.name!r}: layer {layer.name!r} expects {shapes}, the file's layer "
                f"{source_name!r} has {[tuple(a.shape) for a in arrays]} (a file of another architecture?)."
            )
        values.append((layer, fitted))
    if len(sources) > len(targets):
        raise ValueError(
            f"The weights file has {len(sources)} weighted layers and model {model.name!r} only {len(targets)}: "
            f"the file's layer {sources[len(targets)][0]!r} has no counterpart (a file of another architecture?)."
        )
    for layer, fitted in values:
        layer.set_weights(fitted)


register_weights(*(t for row in _FILES for t in _tags_of_file(*row)), *_mobilenet_tags(), *_mobilenet_v2_tags())
for _model in {row[0] for row in _FILES} | set(_MOBILENET_ALPHAS) | {row[0] for row in _MOBILENET_V2}:
    register_converter("keras", _model, convert)
