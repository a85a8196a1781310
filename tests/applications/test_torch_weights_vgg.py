"""torchvision's VGG and AlexNet weights in kerazoo: parity with the source."""

import inspect

import numpy as np
import pytest

from kerazoo.applications import create_model, get_entry
from kerazoo.applications.pretrained import torch_vgg
from kerazoo.applications.pretrained.tags import get_converter, get_tag

from torch_parity import (
    assert_logits_match,
    import_timm,
    import_torchvision,
    normalized_images,
    randomize,
    save_and_read,
    torch,
    torch_params,
)
from zoo_checks import trainable_params

SLOW = pytest.mark.slow

# (kerazoo model, torchvision builder, input side). At 64x64 the last map (2x2, AlexNet's 1x1) is average-pooled up
# to torchvision's 7x7 (6x6); at 224 that pooling is the identity.
# VGG's 100M-parameter head makes its full parity tests slow; the default tier checks VGG's features below.
TORCHVISION = [
    ("alexnet_tv", "alexnet", 64),
    pytest.param("vgg11", "vgg11", 64, marks=SLOW),
    pytest.param("vgg11_bn", "vgg11_bn", 64, marks=SLOW),
    pytest.param("vgg13", "vgg13", 64, marks=SLOW),
    pytest.param("vgg13_bn", "vgg13_bn", 64, marks=SLOW),
    pytest.param("vgg16", "vgg16", 224, marks=SLOW),
    pytest.param("vgg16_bn", "vgg16_bn", 64, marks=SLOW),
    pytest.param("vgg19", "vgg19", 64, marks=SLOW),
    pytest.param("vgg19_bn", "vgg19_bn", 224, marks=SLOW),
    pytest.param("alexnet_tv", "alexnet", 224, marks=SLOW),
]


def source_model(models, builder):
    """torchvision's network with random weights; VGG skips its own initialisation, which ``randomize`` redoes."""
    return randomize(getattr(models, builder)(**({} if builder == "alexnet" else {"init_weights": False})))


# (kerazoo model, input side): timm's VGGs equal torchvision's up to 224x224.
TIMM = [pytest.param("vgg11", 64, marks=SLOW), pytest.param("vgg13_bn", 224, marks=SLOW)]


def build(model_name, side, tag_name="tv_in1k", **kwargs):
    """The kerazoo model the tag fits, with logits out."""
    tag = get_tag(model_name, tag_name)
    return create_model(model_name, input_shape=(side, side, 3), classifier_activation=None,
                        **{**tag.builder_kwargs, **kwargs})


@pytest.mark.parametrize("model_name, builder, side", TORCHVISION)
def test_torchvision_state_dict_gives_the_same_logits(model_name, builder, side, tmp_path):
    models = import_torchvision().models
    source = source_model(models, builder)
    tensors = save_and_read(source, tmp_path / f"{builder}.pth", "pth")
    model = build(model_name, side)
    assert trainable_params(model) == torch_params(source)
    get_converter("torchvision", model_name)(model, tensors)
    assert_logits_match(source, model, normalized_images(side, batch=1))


@pytest.mark.parametrize("model_name, side", TIMM)
def test_timm_safetensors_give_the_same_logits(model_name, side, tmp_path):
    timm = import_timm()
    source = randomize(timm.create_model(model_name, pretrained=False))
    tensors = save_and_read(source, tmp_path / "model.safetensors", "safetensors")
    assert tensors["pre_logits.fc1.weight"].shape == (4096, 512, 7, 7)  # timm's layout, not torchvision's
    model = build(model_name, side, f"timm/{model_name}.tv_in1k")
    assert trainable_params(model) == torch_params(source)
    get_converter("timm", model_name)(model, tensors)
    assert_logits_match(source, model, normalized_images(side, batch=1))


def test_vgg_bn_features_match_without_top(tmp_path):
    models = import_torchvision().models
    source = getattr(models, "vgg11_bn")(init_weights=False)
    # A small classifier in the file (the converter leaves it out without a top) keeps the test fast.
    nn = torch.nn
    source.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4), nn.ReLU(), nn.Dropout(), nn.Linear(4, 4), nn.ReLU(),
                                      nn.Dropout(), nn.Linear(4, 4))
    tensors = save_and_read(randomize(source), tmp_path / "vgg11_bn.pth", "pth")
    model = build("vgg11_bn", 64, include_top=False)
    get_converter("torchvision", "vgg11_bn")(model, tensors)
    _assert_features_match(source.features, model, normalized_images(64), (2, 2, 2, 512))


def test_without_top_the_features_match_and_the_classifier_is_left_out(tmp_path):
    models = import_torchvision().models
    source = source_model(models, "alexnet")
    tensors = save_and_read(source, tmp_path / "alexnet.pth", "pth")
    model = build("alexnet_tv", 96, include_top=False)
    get_converter("torchvision", "alexnet_tv")(model, tensors)
    _assert_features_match(source.features, model, normalized_images(96), (2, 2, 2, 256))


def _assert_features_match(features, model, images, shape):
    with torch.no_grad():
        theirs = features(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    ours = np.asarray(model(images, training=False))
    assert ours.shape == theirs.shape == shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * float(theirs.max() - theirs.min()))


def test_state_dict_of_another_architecture_names_the_first_layer_that_differs(tmp_path):
    models = import_torchvision().models
    tensors = save_and_read(source_model(models, "alexnet"), tmp_path / "alexnet.pth", "pth")
    # torchvision's single-tower AlexNet in kerazoo's two-tower one: conv1 has 96 filters there, not 64.
    with pytest.raises(ValueError, match="Layer 'stage1_conv' expects weights of shapes"):
        get_converter("torchvision", "alexnet_tv")(create_model("alexnet", input_shape=(227, 227, 3)), tensors)


@SLOW
def test_vgg_without_batch_norm_in_one_with_names_the_missing_tensor(tmp_path):
    # Position 1 of a plain VGG's ``features`` is a ReLU, which has no tensors.
    plain = save_and_read(source_model(import_torchvision().models, "vgg11"), tmp_path / "vgg11.pth", "pth")
    with pytest.raises(ValueError, match="no tensor 'features.1.weight'"):
        get_converter("torchvision", "vgg11_bn")(build("vgg11_bn", 32), plain)


def test_every_tag_has_a_converter_and_a_registered_model():
    for tag in torch_vgg.TORCHVISION_TAGS:
        entry = get_entry(tag.model)
        assert get_tag(tag.model, tag.tag) is tag
        converter = torch_vgg.convert_alexnet if tag.model == "alexnet_tv" else torch_vgg.convert_vgg
        assert get_converter("torchvision", tag.model) is converter
        assert set(tag.builder_kwargs) <= set(inspect.signature(entry.builder).parameters)
        assert tag.url.startswith("https://download.pytorch.org/models/") and tag.file_hash in tag.filename
        assert tag.license == "BSD-3-Clause" and tag.top1 and tag.top5
        assert tag.preprocessing.mode == "torch" and (tag.preprocessing.resize, tag.preprocessing.crop) == (256, 224)
    for tag in torch_vgg.TIMM_TAGS:
        assert get_tag(tag.model, tag.tag) is tag and get_converter("timm", tag.model) is torch_vgg.convert_vgg
        assert tag.url == tag.tag == f"timm/{tag.model}.tv_in1k" and tag.filename == "model.safetensors"
        assert tag.builder_kwargs == {"adaptive_pool": 7} and not tag.default
    # keras.applications' VGG16/VGG19 weights are those models' default; torchvision's are the others'.
    assert not get_tag("vgg16", "tv_in1k").default and get_tag("vgg16_bn", "imagenet").tag == "tv_in1k"
