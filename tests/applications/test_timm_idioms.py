"""timm's idioms, as its documentation writes them, run against kerazoo's registry.

    model = timm.create_model("resnet50", pretrained=False, num_classes=0, in_chans=1,
                              features_only=True, out_indices=(1, 2))
    model.feature_info.channels()
    timm.list_models(filter="resnet*", exclude_filters=["*v2"], pretrained=True)

The first-convolution adaptation for ``in_chans`` is compared with timm's own ``adapt_input_conv``.
"""

import dataclasses
import functools

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, get_entry, list_models, model_info
from kerazoo.applications.pretrained import tags
from kerazoo.applications.registry import _REGISTRY, _compact, adapt_input_conv


def _timm_adapt_input_conv():
    """timm's adapt_input_conv (timm imported the way every parity test imports it)."""
    from torch_parity_checks import import_timm

    import_timm()
    from timm.models._manipulate import adapt_input_conv as timm_adapt

    return timm_adapt


def _timm_adapted(kernel, in_chans):
    """timm's adaptation of a Keras kernel (H, W, in, out), through timm's PyTorch layout (out, in, H, W)."""
    import torch

    adapted = _timm_adapt_input_conv()(in_chans, torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
    return adapted.numpy().transpose(2, 3, 1, 0)


@pytest.fixture
def resnet20_weights(tmp_path):
    """A 3-channel ResNet-20 with non-trivial weights, saved as the local weights file weights=PATH loads."""
    model = create_model("resnet20", classes=10)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0.0, 0.1, w.shape).astype("float32") for w in model.get_weights()])
    path = str(tmp_path / "resnet20.weights.h5")
    model.save_weights(path)
    return model, path


def _first_conv(model):
    return next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


@pytest.mark.parametrize("spelling", ["resnet50", "ResNet50", "resnet_50", "resnet-50", "RESNET 50", " ResNet-50 "])
def test_names_resolve_in_every_spelling(spelling):
    assert get_entry(spelling).name == "resnet50"


def test_spellings_reach_create_model_and_model_info():
    assert create_model("ResNet-20", classes=3).output_shape == (None, 3)
    assert model_info("Res_Net20")["name"] == "resnet20"
    with pytest.raises(ValueError, match=r"Unknown model name 'ResNt-20'.*resnet20"):
        create_model("ResNt-20")


def test_no_two_registered_names_share_a_spelling():
    list_models()  # loads the task packages' models too
    compact = [_compact(name) for name in _REGISTRY]
    assert len(set(compact)) == len(compact)


def test_list_models_takes_timm_arguments(monkeypatch):
    resnets = list_models(filter="resnet*", exclude_filters=["*v2", "resnet1*", "*_tv"])
    assert resnets == ["resnet20", "resnet32", "resnet34", "resnet44", "resnet50", "resnet56"]
    assert resnets == list_models("resnet*", exclude=["*v2", "resnet1*", "*_tv"])  # kerazoo's own spelling
    assert list_models(filter="ResNet*") == list_models("resnet*")  # patterns ignore case
    assert list_models(filter="") == list_models()  # timm's "" = all
    assert list_models(filter="resnet*", pretrained=False) == list_models("resnet*")

    from kerazoo.applications.pretrained import load_sources

    load_sources()  # the real tags first, so the patched table below is what the registry sees
    tag = tags.WeightTag(model="resnet20", tag="test_in1k", source="keras", url="", filename="", file_hash=None,
                         preprocessing=tags.Preprocessing(mode="none"), default=True)
    monkeypatch.setitem(tags._TAGS, "resnet20", {tag.tag: tag})
    monkeypatch.delitem(tags._TAGS, "resnet50", raising=False)
    assert "resnet20" in list_models(pretrained=True)
    assert list_models(filter="resnet*", pretrained=True, exclude_filters="resnet50") == [
        n for n in list_models("resnet*") if tags.weight_tags(n)
    ]
    assert "resnet50" not in list_models(pretrained=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"pattern": "resnet*", "filter": "vgg*"}, "either pattern= or filter="),
    ({"exclude": "a*", "exclude_filters": "b*"}, "either exclude= or exclude_filters="),
    ({"pretrained": "yes"}, "Received: pretrained='yes'"),
])
def test_list_models_conflicting_spellings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        list_models(**kwargs)


def test_the_timm_features_only_call():
    model = create_model("resnet20", pretrained=False, num_classes=0, in_chans=1, features_only=True,
                         out_indices=(1, 2))
    assert model.input_shape == (None, 32, 32, 1)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 16, 16, 32), (None, 8, 8, 64)]
    info = model.feature_info
    assert info.channels() == [32, 64] and info.reduction() == [2, 4]
    assert info.module_name() == ["stage2_block3_out", "stage3_block3_out"]
    # timm's idx counts all the model's taps; the sequence itself follows the outputs.
    assert info.channels(0) == 16 and info.channels([0, 2]) == [16, 64] and info.reduction(-1) == 4
    assert info.get_dicts(keys=["num_chs", "reduction"]) == [{"num_chs": 32, "reduction": 2},
                                                             {"num_chs": 64, "reduction": 4}]
    assert info.get_dicts(idx=0)["module"] == "stage1_block3_out"
    assert len(info) == 2 and [d["index"] for d in info] == [1, 2]
    assert info[0]["channels"] == 32 and info[-1]["layer"] == "stage3_block3_out"  # kerazoo's dict access
    assert [d["channels"] for d in info[:1]] == [32]


def test_features_only_model_still_saves_and_loads(tmp_path):
    model = create_model("resnet20", features_only=True, out_indices=(1, 2))
    path = tmp_path / "features.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    for got, want in zip(reloaded(x), model(x)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want), atol=1e-5)


def test_num_classes_and_global_pool():
    assert create_model("resnet20", num_classes=7).output_shape == (None, 7)
    assert create_model("resnet20", num_classes=0).output_shape == (None, 64)  # timm: pooled features
    assert create_model("resnet20", num_classes=0, global_pool="").output_shape == (None, 8, 8, 64)
    maxed = create_model("resnet20", num_classes=0, global_pool="max")
    assert maxed.layers[-1].name == "max_pool"
    assert create_model("resnet20", num_classes=5, global_pool="avg").output_shape == (None, 5)


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": 3, "num_classes": 4}, r"either classes= or num_classes=.*classes=3, num_classes=4"),
    ({"weights": None, "pretrained": False}, "either weights= or pretrained="),
    ({"pooling": "avg", "global_pool": "max", "num_classes": 0}, "either pooling= or global_pool="),
    ({"include_top": True, "num_classes": 0}, "include_top=True, num_classes=0"),
    ({"num_classes": -1}, "Received: num_classes=-1"),
    ({"global_pool": "max"}, "add num_classes=0"),
    ({"global_pool": "catavgmax", "num_classes": 0}, "Received: global_pool='catavgmax'"),
    ({"in_chans": 0}, "Received: in_chans=0"),
    ({"in_chans": 1, "input_shape": (32, 32, 3)}, "input_shape=\\(32, 32, 3\\), in_chans=1"),
    ({"features_only": True, "num_classes": 10}, "num_classes=10"),
])
def test_conflicting_or_bad_timm_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model("resnet20", **kwargs)


def test_timm_arguments_a_builder_lacks_are_named():
    with pytest.raises(ValueError, match=r"\['include_top', 'pooling'\] \(from num_classes=\)"):
        create_model("vae", num_classes=0)


def test_pretrained_true_without_weights_names_weights_argument():
    with pytest.raises(ValueError, match=r"no pretrained weights are registered for 'resnet20'.*weights=PATH"):
        create_model("resnet20", pretrained=True)


@pytest.mark.parametrize("pretrained, weights", [(True, "imagenet"), (False, None)])
def test_pretrained_means_the_default_weights(monkeypatch, pretrained, weights):
    entry = get_entry("resnet20")
    received = []

    @functools.wraps(entry.builder)
    def builder(**kwargs):
        received.append(kwargs["weights"])
        return entry.builder(**{**kwargs, "weights": None})

    from kerazoo.applications.pretrained import load_sources

    load_sources()  # the real tags first, so the patched table below is what the registry sees
    tag = tags.WeightTag(model="resnet20", tag="test_in1k", source="keras", url="", filename="", file_hash=None,
                         preprocessing=tags.Preprocessing(mode="none"), default=True)
    monkeypatch.setitem(tags._TAGS, "resnet20", {tag.tag: tag})
    monkeypatch.setitem(_REGISTRY, "resnet20", dataclasses.replace(entry, builder=builder))
    create_model("resnet20", pretrained=pretrained, num_classes=10)
    assert received == [weights]


@pytest.mark.parametrize("in_chans", [1, 5])
def test_in_chans_adapts_the_loaded_first_kernel_as_timm_does(resnet20_weights, in_chans):
    source, path = resnet20_weights
    model = create_model("resnet20", in_chans=in_chans, weights=path, num_classes=10)
    assert model.input_shape == (None, 32, 32, in_chans)
    kernel = _first_conv(source).get_weights()[0]
    adapted = _first_conv(model).get_weights()[0]
    assert adapted.shape == (*kernel.shape[:2], in_chans, kernel.shape[3])
    np.testing.assert_allclose(adapted, _timm_adapted(kernel, in_chans), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(adapt_input_conv(kernel, in_chans), _timm_adapted(kernel, in_chans), rtol=1e-6,
                               atol=1e-7)
    # Every other weight is the file's.
    for got, want in zip(model.get_weights()[1:], source.get_weights()[1:]):
        np.testing.assert_array_equal(got, want)


def test_in_chans_one_sees_a_grey_image_as_the_rgb_model_sees_it_repeated(resnet20_weights):
    source, path = resnet20_weights
    grey = create_model("resnet20", in_chans=1, weights=path, num_classes=10)
    x = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grey(x, training=False)),
                               keras.ops.convert_to_numpy(source(np.repeat(x, 3, axis=-1), training=False)),
                               rtol=1e-4, atol=1e-5)
    features = create_model("resnet20", in_chans=1, weights=path, features_only=True, out_indices=(2,))
    for layer in features.layers:
        for got, want in zip(layer.get_weights(), grey.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)


def test_weights_of_the_requested_channels_load_as_they_are(tmp_path):
    grey = create_model("resnet20", input_shape=(32, 32, 1), classes=10)  # e.g. a run trained on Fashion-MNIST
    rng = np.random.default_rng(2)
    grey.set_weights([rng.normal(0.0, 0.1, w.shape).astype("float32") for w in grey.get_weights()])
    path = str(tmp_path / "grey.weights.h5")
    grey.save_weights(path)
    for model in (create_model("resnet20", in_chans=1, weights=path, num_classes=10),
                  create_model("resnet20", input_shape=(32, 32, 1), weights=path, classes=10)):
        for got, want in zip(model.get_weights(), grey.get_weights()):
            np.testing.assert_array_equal(got, want)


def test_adapt_input_conv_rejects_bad_input():
    with pytest.raises(ValueError, match="4-D convolution kernel"):
        adapt_input_conv(np.zeros((3, 3, 3)), 1)
    with pytest.raises(ValueError, match="Received: in_chans=0"):
        adapt_input_conv(np.zeros((3, 3, 3, 8)), 0)


def test_a_builders_own_argument_named_like_timms_is_passed_through():
    gan = create_model("dcgan", input_shape=(8, 8, 1), latent_dim=4, filters=4, num_classes=3)
    assert gan.num_classes == 3
