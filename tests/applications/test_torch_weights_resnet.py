"""torchvision's and timm's ResNet, ResNeXt, Wide ResNet and SE-ResNet weights in kerazoo: parity with the source."""

import inspect

import pytest

from kerazoo.applications import create_model, get_entry
from kerazoo.applications.pretrained import torch_resnet
from kerazoo.applications.pretrained.tags import get_converter, get_tag

from torch_parity import (
    assert_logits_match,
    import_timm,
    import_torchvision,
    normalized_images,
    randomize,
    save_and_read,
    torch_params,
)
from zoo_checks import trainable_params

SIDE = 64  # small inputs: every stage still has a map (64 → 2x2 at stride 32)
SLOW = pytest.mark.slow

# (kerazoo model, torchvision builder)
TORCHVISION = [
    ("resnet18", "resnet18"),
    ("resnet34", "resnet34"),
    ("resnet50_tv", "resnet50"),
    ("resnext50_32x4d", "resnext50_32x4d"),
    pytest.param("resnet101_tv", "resnet101", marks=SLOW),
    pytest.param("resnet152_tv", "resnet152", marks=SLOW),
    pytest.param("resnext101_32x8d", "resnext101_32x8d", marks=SLOW),
    pytest.param("resnext101_64x4d", "resnext101_64x4d", marks=SLOW),
    pytest.param("wide_resnet50_2", "wide_resnet50_2", marks=SLOW),
    pytest.param("wide_resnet101_2", "wide_resnet101_2", marks=SLOW),
]

# (kerazoo model, timm tag)
TIMM = [
    ("seresnet50_timm", "timm/seresnet50.a1_in1k"),
    ("resnet18", "timm/resnet18.a1_in1k"),
    pytest.param("resnet34", "timm/resnet34.a1_in1k", marks=SLOW),
    pytest.param("resnet50_tv", "timm/resnet50.a1_in1k", marks=SLOW),
    pytest.param("resnet101_tv", "timm/resnet101.a1h_in1k", marks=SLOW),
    pytest.param("resnet152_tv", "timm/resnet152.a1h_in1k", marks=SLOW),
    pytest.param("resnext50_32x4d", "timm/resnext50_32x4d.a1h_in1k", marks=SLOW),
    pytest.param("resnext101_64x4d", "timm/resnext101_64x4d.c1_in1k", marks=SLOW),
    pytest.param("resnext101_32x8d", "timm/resnext101_32x8d.fb_wsl_ig1b_ft_in1k", marks=SLOW),
    pytest.param("wide_resnet50_2", "timm/wide_resnet50_2.racm_in1k", marks=SLOW),
]


def build(model_name, tag_name, **kwargs):
    """The kerazoo model the tag fits, with logits out."""
    tag = get_tag(model_name, tag_name)
    return create_model(model_name, input_shape=(SIDE, SIDE, 3), classifier_activation=None,
                        **{**tag.builder_kwargs, **kwargs})


@pytest.mark.parametrize("model_name, builder", TORCHVISION)
def test_torchvision_state_dict_gives_the_same_logits(model_name, builder, tmp_path):
    models = import_torchvision().models
    source = randomize(getattr(models, builder)())
    tensors = save_and_read(source, tmp_path / f"{builder}.pth", "pth")
    model = build(model_name, "tv_in1k")
    assert trainable_params(model) == torch_params(source)
    get_converter("torchvision", model_name)(model, tensors)
    assert_logits_match(source, model, normalized_images(SIDE))


@pytest.mark.parametrize("model_name, tag_name", TIMM)
def test_timm_safetensors_give_the_same_logits(model_name, tag_name, tmp_path):
    timm = import_timm()
    architecture = tag_name.removeprefix("timm/").split(".")[0]
    source = randomize(timm.create_model(architecture, pretrained=False))
    tensors = save_and_read(source, tmp_path / "model.safetensors", "safetensors")
    model = build(model_name, tag_name)
    assert trainable_params(model) == torch_params(source)
    get_converter("timm", model_name)(model, tensors)
    assert_logits_match(source, model, normalized_images(SIDE))


def test_without_top_the_features_match_and_the_classifier_is_left_out(tmp_path):
    models = import_torchvision().models
    source = randomize(models.resnet18())
    tensors = save_and_read(source, tmp_path / "resnet18.pth", "pth")
    model = build("resnet18", "tv_in1k", include_top=False, pooling="avg")
    get_converter("torchvision", "resnet18")(model, tensors)
    source.fc = models.resnet.nn.Identity()
    assert_logits_match(source, model, normalized_images(SIDE))


def test_state_dict_of_another_architecture_names_the_first_layer_that_differs(tmp_path):
    models = import_torchvision().models
    tensors = save_and_read(randomize(models.resnet18()), tmp_path / "resnet18.pth", "pth")
    # ResNet-18's first block is a basic block (3x3 convs), ResNet-50's a bottleneck (1x1 first).
    with pytest.raises(ValueError, match="Layer 'stage1_block1_1_conv' expects weights of shapes"):
        get_converter("torchvision", "resnet50_tv")(build("resnet50_tv", "tv_in1k"), tensors)
    # A deeper network's extra blocks have no place in a shallower one.
    deeper = save_and_read(randomize(models.resnet34()), tmp_path / "resnet34.pth", "pth")
    with pytest.raises(ValueError, match=r"no place for: layer1\.2\.bn1\.bias"):
        get_converter("torchvision", "resnet18")(build("resnet18", "tv_in1k"), deeper)
    # keras.applications' v1 layout (conv biases) asks for a tensor torchvision's file does not have.
    with pytest.raises(ValueError, match="no tensor 'conv1.bias'"):
        get_converter("torchvision", "resnet18")(build("resnet18", "tv_in1k", conv_bias=True), tensors)


def test_every_tag_has_a_converter_and_a_registered_model():
    tags = torch_resnet.TORCHVISION_TAGS + torch_resnet.TIMM_TAGS
    for tag in tags:
        entry = get_entry(tag.model)
        assert entry.input_shape == tag.input_shape
        assert get_converter(tag.source, tag.model) is torch_resnet.convert_resnet
        assert get_tag(tag.model, tag.tag) is tag
        assert set(tag.builder_kwargs) <= set(inspect.signature(entry.builder).parameters)
        assert tag.preprocessing.mode == "torch" and tag.preprocessing.crop == 224
    torchvision_tags = [t for t in tags if t.source == "torchvision"]
    for tag in torchvision_tags:
        assert tag.url.startswith("https://download.pytorch.org/models/") and tag.file_hash in tag.filename
        assert tag.license == "BSD-3-Clause" and tag.top1 and tag.top5
    for tag in tags:
        if tag.source == "timm":
            assert tag.url == tag.tag and tag.filename == "model.safetensors"
    # Every model has exactly one default tag ("imagenet").
    for model in {t.model for t in tags}:
        assert get_tag(model, "imagenet").default
    assert get_tag("resnet50_tv", "imagenet").tag == "tv2_in1k"
    with pytest.raises(ValueError, match=r"Did you mean: .*tv2_in1k.*Its pretrained tags: tv2_in1k, "):
        get_tag("resnet50_tv", "tv3_in1k")


@SLOW
def test_source_parameter_counts_are_the_ones_torchvision_publishes():
    # torchvision's weight metadata ("num_params"), for the slow-tier models this file does not build by default.
    published = {"resnet101_tv": 44_549_160, "resnet152_tv": 60_192_808, "resnext101_32x8d": 88_791_336,
                 "resnext101_64x4d": 83_455_272, "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696}
    for name, count in published.items():
        model = create_model(name, input_shape=(SIDE, SIDE, 3))
        assert trainable_params(model) == count, name
        del model
