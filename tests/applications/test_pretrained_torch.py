"""torchvision and timm weights end to end through ``weights=``: a source file by path (recognised by content) and a
tag whose source file is placed in ``$KERAZOO_WEIGHTS_DIR`` (converted once, then loaded from the converted cache).

The source framework builds a small model with random weights and saves it in its own file format; kerazoo's model
gets raw pixels 0-255 through its own preprocessing layer, the source model the same pixels normalised by the test
as torchvision/timm document it; the logits agree to 1e-4 of their range. Nothing touches the network: torch.hub's
and huggingface_hub's download functions are replaced by functions that fail.
"""

import dataclasses
import hashlib
import os
import shutil

import numpy as np
import pytest

from kerazoo.applications import create_model, pretrained
from kerazoo.applications.pretrained import files, tags

from torch_parity_checks import import_timm, import_torchvision, randomise

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """A private cache folder and no network: any fetch fails the test."""
    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError(f"the network was asked for: {args} {kwargs}")

    import huggingface_hub
    import torch.hub

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)


def raw_images(side, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (2, side, side, 3)).astype("float32")


def source_logits(module, raw, mean, std):
    """The source model on raw pixels normalised as torchvision/timm do it (/ 255, minus mean, over std)."""
    normalised = (raw / 255.0 - np.asarray(mean, "float32")) / np.asarray(std, "float32")
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)))).numpy()


def assert_same_logits(expected, model, raw):
    actual = model.predict(raw, verbose=0)
    spread = float(expected.max() - expected.min())
    assert actual.shape == expected.shape and spread > 0
    assert np.abs(actual - expected).max() <= 1e-4 * spread, np.abs(actual - expected).max()


def save_torchvision_resnet18(path):
    source = randomise(import_torchvision().models.resnet18())
    torch.save(source.state_dict(), path)
    return source


def save_timm(architecture, path, **kwargs):
    from safetensors.torch import save_file

    source = randomise(import_timm().create_model(architecture, pretrained=False, **kwargs))
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    return source


def test_torchvision_pth_by_path_through_the_models_preprocessing(tmp_path):
    path = tmp_path / "weights.bin"  # recognised by content, not by name
    source = save_torchvision_resnet18(path)
    model = create_model("resnet18", weights=str(path), input_shape=(64, 64, 3), classifier_activation=None)
    assert files.sniff(path) == "torch" and model.layers[1].name == "preprocess"
    assert model.pretrained.source == "torchvision" and model.pretrained.tag is None
    tag = pretrained.get_tag("resnet18", "tv_in1k")
    assert_same_logits(source_logits(source, raw_images(64), tag.preprocessing.mean, tag.preprocessing.std),
                       model, raw_images(64))


def test_timm_safetensors_by_path_through_the_models_preprocessing(tmp_path):
    path = tmp_path / "model.safetensors"
    source = save_timm("vit_tiny_patch16_224", path, img_size=48)
    model = create_model("vit_tiny_p16", weights=str(path), input_shape=(48, 48, 3), classifier_activation=None)
    assert files.sniff(path) == "safetensors" and model.pretrained.source == "timm"
    prep = pretrained.get_tag("vit_tiny_p16", "imagenet").preprocessing
    assert prep.mean == (0.5, 0.5, 0.5)  # timm's ViT config, not torchvision's ImageNet statistics
    assert_same_logits(source_logits(source, raw_images(48), prep.mean, prep.std), model, raw_images(48))


def _converted_once_then_cached(model_name, tag_name, placed, source, monkeypatch, side):
    tag = pretrained.get_tag(model_name, tag_name)
    raw = raw_images(side)
    expected = source_logits(source, raw, tag.preprocessing.mean, tag.preprocessing.std)
    model = create_model(model_name, weights=tag_name, input_shape=(side, side, 3), classifier_activation=None)
    assert model.pretrained.tag == tag_name and model.pretrained.path == files.converted_path(tag)
    assert_same_logits(expected, model, raw)
    card = files.read_card(files.converted_path(tag))
    assert card["source"] == tag.source and card["tag"] == tag_name

    # Later uses load the converted file: the source file is gone and no conversion runs.
    os.remove(placed)
    monkeypatch.setattr(files, "read_tensors", lambda *a, **k: pytest.fail("converted again"))
    again = create_model(model_name, weights=tag_name, input_shape=(side, side, 3), classifier_activation=None)
    assert_same_logits(expected, again, raw)


def _with_file_hash(monkeypatch, model_name, tag_name, path):
    """The tag as if torchvision had published ``path``: its file name carries the file's sha256 prefix."""
    tag = pretrained.get_tag(model_name, tag_name)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    filename = f"{tag.filename.rsplit('-', 1)[0]}-{prefix}.pth"
    placed = dataclasses.replace(tag, filename=filename, url=tag.url.rsplit("/", 1)[0] + "/" + filename,
                                 file_hash=prefix)
    monkeypatch.setitem(tags._TAGS[model_name], tag_name, placed)
    return placed


def test_torchvision_tag_placed_in_the_cache_folder(tmp_path, monkeypatch):
    made = tmp_path / "made.pth"
    source = save_torchvision_resnet18(made)
    tag = _with_file_hash(monkeypatch, "resnet18", "tv_in1k", made)
    placed = files.local_source_path(tag)
    assert placed == os.path.join(files.weights_dir(), tag.filename)
    os.makedirs(os.path.dirname(placed))
    shutil.copy(made, placed)
    _converted_once_then_cached("resnet18", "tv_in1k", placed, source, monkeypatch, 64)


def test_torchvision_file_without_the_published_hash_prefix_is_refused(tmp_path):
    tag = pretrained.get_tag("resnet18", "tv_in1k")
    placed = files.local_source_path(tag)
    os.makedirs(os.path.dirname(placed))
    save_torchvision_resnet18(placed)
    with pytest.raises(ValueError, match=rf"expected {tag.file_hash}, file has [0-9a-f]{{64}}"):
        create_model("resnet18", weights="tv_in1k", input_shape=(64, 64, 3))


@pytest.mark.parametrize("model_name, tag_name, side", [
    ("resnet18", "timm/resnet18.a1_in1k", 64),
    # ViT at the tag's own input size: its position embeddings are per patch.
    pytest.param("vit_tiny_p16", "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k", 224, marks=pytest.mark.slow),
])
def test_timm_tag_placed_in_the_cache_folder(model_name, tag_name, side, monkeypatch):
    tag = pretrained.get_tag(model_name, tag_name)
    placed = files.local_source_path(tag)
    assert placed == os.path.join(files.weights_dir(), "timm", tag.url.replace("/", "--"), "model.safetensors")
    os.makedirs(os.path.dirname(placed))
    source = save_timm(tag_name.removeprefix("timm/").split(".")[0], placed)
    _converted_once_then_cached(model_name, tag_name, placed, source, monkeypatch, side)
