"""torchvision's and timm's DenseNet weights in kerazoo's DenseNets: parity with the source on random weights."""

import re

import pytest

from kerazoo.applications import create_model
from kerazoo.applications.pretrained import torch_densenet  # noqa: F401  (registers the tags and converters)
from kerazoo.applications.pretrained.tags import get_converter, get_tag, weight_tags
from torch_parity_checks import (
    assert_parity, assert_tags_convertible, assert_tags_match_sources, images, import_timm, import_torchvision,
    keras_trainable_params, randomise, save_and_read, torch_logits, torch_params,
)

torch = pytest.importorskip("torch")

SHAPE = (64, 64, 3)


def _converted(name, tensors, **kwargs):
    model = create_model(name, input_shape=SHAPE, classifier_activation=None, **kwargs)
    get_converter("torchvision", name)(model, tensors)
    return model


@pytest.mark.parametrize("name", ["densenet121", pytest.param("densenet161", marks=pytest.mark.slow),
                                  pytest.param("densenet169", marks=pytest.mark.slow),
                                  pytest.param("densenet201", marks=pytest.mark.slow)])
def test_torchvision_parity(name, tmp_path):
    """In the key spelling of torchvision's download files (``denselayer1.norm.1``, ``conv.2`` ..., which its loader
    renames to ``norm1``, ``conv2``)."""
    source = randomise(getattr(import_torchvision().models, name)())
    tensors = save_and_read(source, tmp_path / f"{name}.pth", "pth")
    legacy = {re.sub(r"\.(norm|conv)([12])\.", r".\1.\2.", k) if "denselayer" in k else k: v
              for k, v in tensors.items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    model = _converted(name, legacy)
    assert keras_trainable_params(model) == torch_params(source)
    x = images(SHAPE)
    assert_parity(torch_logits(source, x), model.predict(x, verbose=0))


def test_densenet161_is_torchvisions_network():
    tv = import_torchvision().models.densenet161()
    model = create_model("densenet161", input_shape=(32, 32, 3))  # the count does not depend on the input size
    assert keras_trainable_params(model) == torch_params(tv) == 28_681_000


def test_without_top_the_classifier_is_dropped(tmp_path):
    source = randomise(import_torchvision().models.densenet121())
    tensors = save_and_read(source, tmp_path / "densenet121.pth", "pth")
    model = create_model("densenet121", input_shape=SHAPE, include_top=False, pooling="avg")
    get_converter("torchvision", "densenet121")(model, tensors)
    x = images(SHAPE)
    with torch.no_grad():
        features = torch.nn.functional.adaptive_avg_pool2d(
            torch.relu(source.features(torch.from_numpy(x.transpose(0, 3, 1, 2)))), 1
        ).flatten(1).numpy()
    assert_parity(features, model.predict(x, verbose=0))


def test_timm_parity(tmp_path):
    source = randomise(import_timm().create_model("densenet121"))
    tensors = save_and_read(source, tmp_path / "model.safetensors", "safetensors")
    model = create_model("densenet121", input_shape=SHAPE, classifier_activation=None)
    get_converter("timm", "densenet121")(model, tensors)
    assert keras_trainable_params(model) == torch_params(source)
    x = images(SHAPE)
    assert_parity(torch_logits(source, x), model.predict(x, verbose=0))


def test_another_architecture_names_the_first_layer_that_differs(tmp_path):
    tensors = save_and_read(import_torchvision().models.densenet169(), tmp_path / "densenet169.pth", "pth")
    model = create_model("densenet121", input_shape=SHAPE)
    # DenseNet-169 has the same first two blocks and 24 first layers of block 3; its third transition is wider.
    with pytest.raises(ValueError, match="Layer 'stage3_transition_bn' expects weights of shapes"):
        get_converter("torchvision", "densenet121")(model, tensors)


def test_tags_are_the_published_files():
    tag = get_tag("densenet161", "imagenet")
    assert tag.tag == "tv_in1k" and tag.source == "torchvision" and tag.license == "BSD-3-Clause"
    assert tag.url == "https://download.pytorch.org/models/densenet161-8d451a50.pth"
    assert tag.filename == "densenet161-8d451a50.pth" and tag.file_hash == "8d451a50"
    assert (tag.top1, tag.top5) == (77.138, 93.560)
    assert tag.preprocessing.mean == (0.485, 0.456, 0.406) and tag.preprocessing.crop == 224
    timm_tag = get_tag("densenet121", "timm/densenet121.ra_in1k")
    assert timm_tag.url == "timm/densenet121.ra_in1k" and timm_tag.filename == "model.safetensors"
    assert timm_tag.preprocessing.interpolation == "bicubic"
    assert tag.preprocessing.resize == 256 and timm_tag.preprocessing.resize == 256  # floor(224 / 0.875)
    assert [t.tag for t in weight_tags("densenet169") if t.source == "torchvision"] == ["tv_in1k"]


def test_every_tag_has_a_registered_model_and_a_converter():
    assert_tags_convertible(("densenet121", "densenet161", "densenet169", "densenet201"))


def test_tags_are_the_installed_sources_facts():
    assert_tags_match_sources(("densenet121", "densenet161", "densenet169", "densenet201"))
