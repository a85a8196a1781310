"""torchvision's GoogLeNet and Inception-v3 weights (and timm's inception_v3) in kerazoo's ``googlenet_tv`` and
``inceptionv3_tv``: parity with the source on random weights, parameter counts, the auxiliary head, errors, tags."""

import numpy as np
import pytest

from kerazoo.applications import create_model
from kerazoo.applications.pretrained import torch_inception  # noqa: F401  (registers the tags and converters)
from kerazoo.applications.pretrained.tags import get_converter, get_tag, weight_tags
from torch_parity_checks import (
    assert_parity, assert_tags_convertible, assert_tags_match_sources, images, import_timm, import_torchvision,
    keras_trainable_params, randomise, save_and_read, torch_logits, torch_params,
)

torch = pytest.importorskip("torch")


def _parity(source, name, shape, tmp_path, *, source_name="torchvision", **kwargs):
    fmt = "pth" if source_name == "torchvision" else "safetensors"
    tensors = save_and_read(source, tmp_path / f"weights.{fmt}", fmt)
    model = create_model(name, input_shape=shape, classifier_activation=None, **kwargs)
    get_converter(source_name, name)(model, tensors)
    x = images(shape)
    assert_parity(torch_logits(source, x), model.predict(x, verbose=0))
    return model


@pytest.mark.parametrize("shape", [(64, 64, 3), (75, 75, 3)])  # 75: odd maps, where ceil-mode pools add a window
def test_googlenet_parity(shape, tmp_path):
    # aux_logits=True: the published file holds the auxiliary classifiers, which the converter leaves out.
    source = randomise(import_torchvision().models.googlenet(aux_logits=True, transform_input=True, init_weights=True))
    _parity(source, "googlenet_tv", shape, tmp_path)


def test_googlenet_parameters_equal_torchvisions():
    source = import_torchvision().models.googlenet(aux_logits=False, init_weights=False)
    assert keras_trainable_params(create_model("googlenet_tv")) == torch_params(source) == 6_624_904


def test_inception_v3_parity(tmp_path):
    source = randomise(import_torchvision().models.inception_v3(aux_logits=True, transform_input=True,
                                                                init_weights=False))
    model = _parity(source, "inceptionv3_tv", (75, 75, 3), tmp_path)
    assert keras_trainable_params(model) + 3_326_696 == torch_params(source) == 27_161_264


def test_without_transform_input_timm_parity(tmp_path):
    source = randomise(import_timm().create_model("inception_v3"))
    _parity(source, "inceptionv3_tv", (75, 75, 3), tmp_path, source_name="timm", transform_input=False)
    assert get_tag("inceptionv3_tv", "timm/inception_v3.tf_in1k").builder_kwargs == {"transform_input": False}


@pytest.mark.slow
def test_inception_v3_aux_classifier_parity(tmp_path):
    """With aux_classifiers=True both outputs match: the main logits and torchvision's AuxLogits on Mixed_6e."""
    source = randomise(import_torchvision().models.inception_v3(aux_logits=True, transform_input=True,
                                                                init_weights=False))
    tensors = save_and_read(source, tmp_path / "inception_v3.pth", "pth")
    model = create_model("inceptionv3_tv", classifier_activation=None, aux_classifiers=True)
    assert keras_trainable_params(model) == torch_params(source)
    get_converter("torchvision", "inceptionv3_tv")(model, tensors)
    x = images((299, 299, 3))
    captured = {}
    source.Mixed_6e.register_forward_hook(lambda module, args, out: captured.update(mixed=out))
    main = torch_logits(source, x)
    with torch.no_grad():
        aux = source.AuxLogits(captured["mixed"]).numpy()
    got_main, got_aux = model.predict(x, verbose=0)
    assert_parity(main, got_main)
    assert_parity(aux, got_aux)


def test_aux_classifier_needs_a_large_input():
    with pytest.raises(ValueError, match="at least 299x299"):
        create_model("inceptionv3_tv", input_shape=(75, 75, 3), aux_classifiers=True)


def test_transform_input_needs_rgb():
    with pytest.raises(ValueError, match=r"needs 3 channels. Received: input_shape=\(64, 64, 1\)"):
        create_model("googlenet_tv", input_shape=(64, 64, 1))


def test_transform_input_maps_imagenet_normalised_inputs_to_minus_one_one():
    model = create_model("googlenet_tv", input_shape=(32, 32, 3))
    layer = model.get_layer("stem_transform_input")
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    pixels = np.random.default_rng(0).uniform(size=(1, 2, 2, 3))
    out = np.asarray(layer((pixels - mean) / std))
    np.testing.assert_allclose(out, (pixels - 0.5) / 0.5, atol=1e-5)


def test_another_architecture_names_the_first_layer_that_differs(tmp_path):
    tensors = save_and_read(import_torchvision().models.googlenet(init_weights=False), tmp_path / "g.pth", "pth")
    model = create_model("inceptionv3_tv", input_shape=(75, 75, 3))
    with pytest.raises(ValueError, match="no tensor 'Conv2d_1a_3x3.conv.weight' for layer 'stem_conv1'"):
        get_converter("torchvision", "inceptionv3_tv")(model, tensors)
    keras_googlenet = create_model("googlenet", input_shape=(64, 64, 3))  # the paper's: 5x5 branches, no BN
    with pytest.raises(ValueError, match="no tensor 'conv1.conv.bias' for layer 'stem_conv1'"):
        get_converter("torchvision", "googlenet_tv")(keras_googlenet, tensors)


def test_tags_are_the_published_files():
    tag = get_tag("inceptionv3_tv", "imagenet")
    assert tag.url == "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"
    assert (tag.file_hash, tag.top1, tag.top5) == ("0cc3c7bd", 77.294, 93.450)
    assert (tag.preprocessing.resize, tag.preprocessing.crop, tag.input_shape) == (342, 299, (299, 299, 3))
    assert get_tag("googlenet_tv", "tv_in1k").filename == "googlenet-1378be20.pth"
    assert [t.tag for t in weight_tags("inceptionv3_tv")] == ["tv_in1k", "timm/inception_v3.tf_in1k"]


def test_every_tag_has_a_registered_model_and_a_converter():
    assert_tags_convertible(("googlenet_tv", "inceptionv3_tv"))


def test_tags_are_the_installed_sources_facts():
    assert_tags_match_sources(("googlenet_tv", "inceptionv3_tv"))
