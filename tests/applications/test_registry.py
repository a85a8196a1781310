"""Registry-wide tests: every registered classifier builds, is named, documented, trains, saves and reloads.

One table drives them all (the registry itself), so a new family is tested the moment it registers.
"""

import inspect
import re

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, get_entry, list_models, model_info, register_model
from kerazoo.applications.registry import _REGISTRY
from zoo_checks import small_shape

CLASSIFIERS = list_models(task="classification")
# Variants tagged "heavy" (deep or wide: seconds per build) are built once in the default tier
# (test_builds_and_names_layers); their pooling, feature and round-trip tests run in the slow tier.
CLASSIFIERS_TIERED = [
    pytest.param(n, marks=pytest.mark.slow) if "heavy" in get_entry(n).tags else n for n in CLASSIFIERS
]


def _snake(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _auto_named(model):
    bad = []
    for layer in model.layers:
        pattern = re.escape(_snake(type(layer).__name__)) + r"(_\d+)?"
        if re.fullmatch(pattern, layer.name):
            bad.append(layer.name)
    return bad


def test_list_models_filters_and_sorts_naturally():
    names = list_models("resnet*")
    assert "resnet20" in names and "resnet110" in names
    cifar = [n for n in names if n in ("resnet20", "resnet32", "resnet110")]
    assert cifar == ["resnet20", "resnet32", "resnet110"]  # natural, not lexicographic, order
    assert "resnet110" not in list_models("resnet*", exclude="resnet1*")
    assert list_models("no_such_*") == []


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model name 'resnt20'.*resnet20"):
        create_model("resnt20")


def test_unknown_argument_is_named():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['clases'\]"):
        create_model("resnet20", clases=10)


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="registered twice"):
        register_model(family="x", paper="x", year=2000, input_shape=(32, 32, 3), name="resnet20")(lambda: None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weights": "imagenet"}, "Unknown weights 'imagenet' for model 'resnet20'. Its pretrained tags: none"),
        ({"weights": "/no/such/file.weights.h5"}, "existing local weights file"),
        ({"classes": 0}, "Received: classes=0"),
        ({"include_top": False, "pooling": "mean"}, "Received: pooling='mean'"),
        ({"include_top": True, "pooling": "avg"}, "only applies with include_top=False"),
        ({"input_shape": (4, 4, 1)}, "Received: input_shape=\\(4, 4, 1\\)"),
        ({"input_shape": (32, 32)}, "\\(height, width, channels\\)"),
        ({"classifier_activation": "no_such_activation"}, "classifier_activation"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model("resnet20", **kwargs)


def test_model_info_has_the_declared_facts():
    info = model_info("resnet20")
    assert info["params"] == create_model("resnet20").count_params()
    assert info["flops"] > 0 and info["year"] == 2016 and "He et al." in info["paper"]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_builder_signature_and_docs(name):
    entry = get_entry(name)
    params = inspect.signature(entry.builder).parameters
    standard = ["include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                "classifier_activation", "name"]
    assert list(params)[: len(standard)] == standard
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    doc = entry.builder.__doc__
    undocumented = [p for p in params if f"{p}:" not in doc]
    assert not undocumented, f"{name} does not document {undocumented}"


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_builds_and_names_layers(name):
    model = create_model(name, input_shape=small_shape(name), classes=7)
    assert model.output_shape == (None, 7)
    assert not _auto_named(model), f"{name} has automatically named layers: {_auto_named(model)[:10]}"


@pytest.mark.parametrize("name", CLASSIFIERS_TIERED)
def test_pooling_options(name):
    shape = small_shape(name)
    pooled = create_model(name, input_shape=shape, include_top=False, pooling="avg")
    assert len(pooled.output_shape) == 2
    maxed = create_model(name, input_shape=shape, include_top=False, pooling="max")
    assert maxed.output_shape == pooled.output_shape
    assert len(create_model(name, input_shape=shape, include_top=False).output_shape) == 4


@pytest.mark.parametrize("name", [
    p for p in CLASSIFIERS_TIERED if get_entry(p if isinstance(p, str) else p.values[0]).feature_taps
])
def test_features_only_taps(name):
    entry = get_entry(name)
    side = entry.input_shape[0]  # the default input: LeNet-5's valid convolutions gave 14 and 5 at 32 (2.29, 6.4)
    model = create_model(name, features_only=True, input_shape=entry.input_shape)
    info = model.feature_info
    assert len(info) == len(model.outputs) == len(entry.feature_taps)
    reductions = [f["reduction"] for f in info]
    assert reductions == sorted(reductions), "reductions must never decrease"
    for f, out in zip(info, model.outputs):
        assert f["channels"] > 0 and out.shape[-1] == f["channels"]
        # Exact: side / reduction, rounded up where it does not divide (AlexNet's 227), as 'same' padding gives.
        assert out.shape[1] == out.shape[2] == -(-side // f["reduction"]), f"{f['layer']} is not at {f['reduction']}"
        if side % f["reduction"] == 0:
            assert side / out.shape[1] == f["reduction"]
    last = create_model(name, features_only=True, out_indices=[-1], input_shape=entry.input_shape)
    assert last.feature_info == info[-1:]


@pytest.mark.parametrize("name", CLASSIFIERS_TIERED)
def test_trains_one_step_and_round_trips_keras_format(name, tmp_path):
    shape = small_shape(name)
    model = create_model(name, input_shape=shape, classes=3, classifier_activation=None)
    # Eager: tracing a graph costs far more than one step on two tiny images.
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True
    )
    x = np.random.default_rng(0).uniform(0, 1, size=(2, *shape)).astype("float32")
    y = np.array([0, 2])
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        rtol=1e-5, atol=1e-5,
    )


def test_registry_entries_are_consistent():
    for name, entry in _REGISTRY.items():
        assert name == name.lower()
        assert len(entry.input_shape) == 3 and entry.year > 1980 and entry.paper


def test_features_only_pads_valid_convolution_maps_to_the_declared_stride():
    # LeNet-5 at 32x32: S2 is 14x14 and S4 5x5 (valid 5x5 convolutions); the taps declare strides 2 and 4.
    model = create_model("lenet5", features_only=True, input_shape=(32, 32, 1))
    assert [tuple(out.shape[1:3]) for out in model.outputs] == [(16, 16), (8, 8)]
    images = np.random.default_rng(0).uniform(size=(1, 32, 32, 1)).astype("float32")
    deep = keras.ops.convert_to_numpy(model(images)[1])
    inner = keras.ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer("s4_pool").output)(images))
    assert inner.shape[1:3] == (5, 5)
    np.testing.assert_allclose(deep[:, 1:6, 1:6], inner, rtol=1e-6)  # the real map, centred (3 = 1 + 2 pixels)
    assert not deep[:, 0].any() and not deep[:, 6:].any()
