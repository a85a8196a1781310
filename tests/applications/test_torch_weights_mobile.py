"""torchvision's SqueezeNet, MobileNetV2 and ShuffleNetV2 weights (and timm's mobilenetv2_100) in kerazoo's ``_tv``
variants: parity with the source on random weights, parameter counts, errors and tags."""

import pytest

from kerazoo.applications import create_model, mobilenet_v2, shufflenet_v2, squeezenet
from kerazoo.applications.pretrained import torch_mobile  # noqa: F401  (registers the tags and converters)
from kerazoo.applications.pretrained.tags import get_converter, get_tag
from torch_parity_checks import (
    assert_parity, assert_tags_convertible, assert_tags_match_sources, images, import_timm, import_torchvision,
    keras_trainable_params, randomise, save_and_read, torch_logits, torch_params,
)

SHAPE = (64, 64, 3)
COMMON = dict(include_top=True, weights=None, input_tensor=None, input_shape=SHAPE, pooling=None, classes=10,
              classifier_activation=None, name="x")
# (kerazoo variant, torchvision builder)
TORCHVISION = [
    ("squeezenet1_0_tv", "squeezenet1_0"),
    ("squeezenet1_1_tv", "squeezenet1_1"),
    ("mobilenetv2_tv", "mobilenet_v2"),
    ("shufflenetv2_x1_0_tv", "shufflenet_v2_x1_0"),
    pytest.param("shufflenetv2_x0_5_tv", "shufflenet_v2_x0_5", marks=pytest.mark.slow),
    pytest.param("shufflenetv2_x1_5_tv", "shufflenet_v2_x1_5", marks=pytest.mark.slow),
    pytest.param("shufflenetv2_x2_0_tv", "shufflenet_v2_x2_0", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name, builder", TORCHVISION)
def test_torchvision_parity(name, builder, tmp_path):
    source = randomise(getattr(import_torchvision().models, builder)())
    tensors = save_and_read(source, tmp_path / f"{builder}.pth", "pth")
    model = create_model(name, input_shape=SHAPE, classifier_activation=None)
    get_converter("torchvision", name)(model, tensors)
    assert keras_trainable_params(model) == torch_params(source)
    x = images(SHAPE)
    assert_parity(torch_logits(source, x), model.predict(x, verbose=0))


def test_ceil_mode_pooling_parity(tmp_path):
    """At 66x66 the stem gives an even 32x32 map, where ceil-mode pooling has one window more than floor mode
    (16 against 15): the case the bottom/right padding exists for."""
    source = randomise(import_torchvision().models.squeezenet1_1())
    tensors = save_and_read(source, tmp_path / "squeezenet1_1.pth", "pth")
    model = create_model("squeezenet1_1_tv", input_shape=(66, 66, 3), classifier_activation=None)
    assert model.get_layer("stage1_pool").output.shape[1:3] == (16, 16)
    get_converter("torchvision", "squeezenet1_1_tv")(model, tensors)
    x = images((66, 66, 3))
    assert_parity(torch_logits(source, x), model.predict(x, verbose=0))


def test_timm_mobilenetv2_parity(tmp_path):
    source = randomise(import_timm().create_model("mobilenetv2_100"))
    tensors = save_and_read(source, tmp_path / "model.safetensors", "safetensors")
    model = create_model("mobilenetv2_tv", input_shape=SHAPE, classifier_activation=None)
    get_converter("timm", "mobilenetv2_tv")(model, tensors)
    assert keras_trainable_params(model) == torch_params(source)
    x = images(SHAPE)
    assert_parity(torch_logits(source, x), model.predict(x, verbose=0))


def test_same_padding_variant_differs_from_torchvision(tmp_path):
    """Why the ``_tv`` variants exist: the same weights in Keras' "same" layout give other outputs."""
    source = randomise(import_torchvision().models.mobilenet_v2())
    tensors = save_and_read(source, tmp_path / "mobilenet_v2.pth", "pth")
    model = create_model("mobilenetv2", input_shape=SHAPE, classifier_activation=None)
    get_converter("torchvision", "mobilenetv2_tv")(model, tensors)  # same weights, other padding and epsilon
    x = images(SHAPE)
    with pytest.raises(AssertionError, match="of the logit range"):
        assert_parity(torch_logits(source, x), model.predict(x, verbose=0))


def test_another_architecture_names_the_first_layer_that_differs(tmp_path):
    tensors = save_and_read(import_torchvision().models.shufflenet_v2_x0_5(), tmp_path / "x0_5.pth", "pth")
    model = create_model("shufflenetv2_x1_0_tv", input_shape=SHAPE)
    with pytest.raises(ValueError, match="Layer 'stage2_block1_branch1_pw_conv' expects weights of shapes"):
        get_converter("torchvision", "shufflenetv2_x1_0_tv")(model, tensors)
    squeezenet = save_and_read(import_torchvision().models.squeezenet1_0(), tmp_path / "sq.pth", "pth")
    with pytest.raises(ValueError, match="Layer 'stem_conv' expects weights of shapes"):
        get_converter("torchvision", "squeezenet1_1_tv")(create_model("squeezenet1_1_tv", input_shape=SHAPE),
                                                          squeezenet)


def test_tags_are_the_published_files():
    tag = get_tag("mobilenetv2_tv", "imagenet")
    assert tag.tag == "tv2_in1k" and tag.url == "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth"
    assert (tag.top1, tag.top5, tag.preprocessing.resize, tag.preprocessing.crop) == (72.154, 90.822, 232, 224)
    assert get_tag("mobilenetv2_tv", "tv_in1k").file_hash == "b0353104"
    shuffle = get_tag("shufflenetv2_x0_5_tv", "imagenet")
    assert shuffle.filename == "shufflenetv2_x0.5-f707e7126e.pth" and shuffle.file_hash == "f707e7126e"
    timm_tag = get_tag("mobilenetv2_tv", "timm/mobilenetv2_100.ra_in1k")
    assert timm_tag.url == "timm/mobilenetv2_100.ra_in1k" and timm_tag.preprocessing.interpolation == "bicubic"


def test_every_tag_has_a_registered_model_and_a_converter():
    assert_tags_convertible(("squeezenet1_0_tv", "squeezenet1_1_tv", "mobilenetv2_tv", "shufflenetv2_x0_5_tv",
                             "shufflenetv2_x1_0_tv", "shufflenetv2_x1_5_tv", "shufflenetv2_x2_0_tv"))


@pytest.mark.parametrize("builder", [
    lambda padding: shufflenet_v2.ShuffleNetV2(shufflenet_v2.WIDTHS["x1_0"], **COMMON, padding=padding),
    lambda padding: mobilenet_v2.MobileNetV2Base(**COMMON, alpha=1.0, padding=padding),
    lambda padding: squeezenet.SqueezeNet(squeezenet.SPECS["1_1"], **COMMON, dropout=0.5, padding=padding),
])
def test_unknown_padding_is_named(builder):
    with pytest.raises(ValueError, match="Invalid padding: expected 'same' or 'torch'. Received: padding='symmetric'"):
        builder("symmetric")


def test_tags_are_the_installed_sources_facts():
    assert_tags_match_sources(("squeezenet1_0_tv", "squeezenet1_1_tv", "mobilenetv2_tv", "shufflenetv2_x0_5_tv",
                               "shufflenetv2_x1_0_tv", "shufflenetv2_x1_5_tv", "shufflenetv2_x2_0_tv"))
