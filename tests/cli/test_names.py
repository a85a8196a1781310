"""The CLI's name index: equal to the live registry, and answering as the registry does."""

import pytest

from kerazoo.cli import names


def test_the_index_is_the_live_registry():
    assert names.index() == names.live_index(), "regenerate it: python -m kerazoo.cli.names"


def test_models_in_any_spelling():
    for spelling in ("resnet20", "ResNet20", "ResNet-20", "resnet_20", " lenet5 ", "wrn28-10", "WRN 28 10"):
        names.check_model(spelling)  # case and separators ignored, as the registry does


def test_unknown_model_lists_close_names_like_the_registry():
    with pytest.raises(ValueError, match=r"Unknown model name 'resnt20'\. Did you mean: resnet20") as error:
        names.check_model("resnt20")
    assert f"lists all {len(names.index()['models'])} registered models" in str(error.value)


def test_datasets():
    for name in ("fashion_mnist", "Fashion-MNIST", "digits", "fashion_mnist_scenes", "cifar10", "mnist_corrupted/shot_noise",
                 "mnist:3.0.1", "masks:/data/shapes"):
        names.check_dataset(name)
    with pytest.raises(ValueError, match=r"Unknown dataset 'fashon_mnist'.*Did you mean: fashion_mnist"):
        names.check_dataset("fashon_mnist")


def test_another_tensorflow_datasets_version_leaves_unknown_names_to_the_library(monkeypatch):
    monkeypatch.setattr(names, "_tfds_version", lambda: "99.0.0")
    names.check_dataset("a_builder_of_a_newer_version")
