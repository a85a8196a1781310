"""timm's ViT weights in kerazoo's ViTs: parity with timm on random weights, parameter counts, errors and tags."""

import pytest

from kerazoo.applications import create_model
from kerazoo.applications.pretrained import timm_vit  # noqa: F401  (registers the tags and converters)
from kerazoo.applications.pretrained.tags import get_converter, get_tag
from torch_parity_checks import (
    assert_parity, assert_tags_convertible, assert_tags_match_sources, images, import_timm, keras_trainable_params,
    randomise, save_and_read, torch_logits, torch_params,
)


def _parity(name, timm_name, side, tmp_path):
    source = randomise(import_timm().create_model(timm_name, img_size=side))
    tensors = save_and_read(source, tmp_path / "model.safetensors", "safetensors")
    model = create_model(name, input_shape=(side, side, 3), classifier_activation=None)
    get_converter("timm", name)(model, tensors)
    assert keras_trainable_params(model) == torch_params(source)
    x = images((side, side, 3))
    assert_parity(torch_logits(source, x), model.predict(x, verbose=0))


def test_vit_tiny_parity_at_a_small_input(tmp_path):
    """ViT-Ti/16 at 48x48 (9 patches + the class token): every layer of the full model, little compute."""
    _parity("vit_tiny_p16", "vit_tiny_patch16_224", 48, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name, timm_name", [("vit_small_p16", "vit_small_patch16_224"),
                                             ("vit_base_p16", "vit_base_patch16_224")])
def test_full_size_parity(name, timm_name, tmp_path):
    _parity(name, timm_name, 224, tmp_path)


def test_vit_small_parameters_equal_timms():
    """At 48x48 (the count differs from 224x224 only by the position embeddings; the slow tier checks 224)."""
    source = import_timm().create_model("vit_small_patch16_224", img_size=48)
    assert keras_trainable_params(create_model("vit_small_p16", input_shape=(48, 48, 3))) == torch_params(source)


def test_other_width_or_input_size_names_the_layer(tmp_path):
    tensors = save_and_read(import_timm().create_model("vit_tiny_patch16_224", img_size=48),
                            tmp_path / "model.safetensors", "safetensors")
    with pytest.raises(ValueError, match="Layer 'stem_patch_embed' expects weights of shapes"):
        get_converter("timm", "vit_small_p16")(create_model("vit_small_p16", input_shape=(48, 48, 3)), tensors)
    # Position embeddings are per patch: 48x48 weights do not fit a 64x64 model.
    with pytest.raises(ValueError, match="Layer 'stem_position_embedding' expects weights of shapes"):
        get_converter("timm", "vit_tiny_p16")(create_model("vit_tiny_p16", input_shape=(64, 64, 3)), tensors)


def test_tags_are_timms_hub_files():
    tag = get_tag("vit_base_p16", "imagenet")
    assert tag.tag == "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k" and tag.source == "timm"
    assert tag.url == "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k" and tag.filename == "model.safetensors"
    prep = tag.preprocessing
    assert (prep.mean, prep.std, prep.resize, prep.crop, prep.interpolation) == (
        (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 248, 224, "bicubic")
    cfg = import_timm().models.get_pretrained_cfg("vit_base_patch16_224.augreg2_in21k_ft_in1k")
    assert (prep.mean, prep.std, cfg.crop_pct, prep.interpolation) == (cfg.mean, cfg.std, 0.9, cfg.interpolation)


def test_every_tag_has_a_registered_model_and_a_converter():
    assert_tags_convertible(("vit_tiny_p16", "vit_small_p16", "vit_base_p16"))


def test_tags_are_the_installed_sources_facts():
    assert_tags_match_sources(("vit_tiny_p16", "vit_small_p16", "vit_base_p16"))
