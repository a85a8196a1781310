"""Every shipped recipe (configs/*.yaml) loads, validates and builds its model, so none can rot."""

import glob
import os

import pytest

from kerazoo.applications import get_entry
from kerazoo.datasets import DatasetInfo
from kerazoo.training import load_config
from kerazoo.training.tasks import get_task

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "*.yaml")))
IMAGE_SHAPES = {"fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3),  # the recipes' datasets, without their files
                "fashion_mnist_translated60": (60, 60, 1)}


def test_the_recipes_are_there():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"cifar_resnet20.yaml", "fashion_lenet5.yaml", "fashion_resnet20.yaml", "fashion_densenetbc.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_recipe_builds_its_model(path):
    config = load_config(path)
    if config.task:  # a task that builds its own model from task_options (char-RNN, captioning)
        from kerazoo.training.tasks import task_for_config

        task = task_for_config(config)
        info = DatasetInfo(name=config.data.dataset, image_shape=(64, 64, 1), num_classes=20,
                           class_names=tuple("abcdefghijklmnopqrst"), mean=(), std=(), source="test")
        model = task.build(config, info)
        assert task.name == config.task and model.count_params() > 0
        return
    task = get_task(get_entry(config.model.name).task)  # classifiers, and the RAM (task "attention")
    assert task.name in ("classification", "attention")
    shape = IMAGE_SHAPES[config.data.dataset]
    info = DatasetInfo(name=config.data.dataset, image_shape=shape, num_classes=10, class_names=tuple("abcdefghij"),
                       mean=(0.5,) * shape[-1], std=(0.25,) * shape[-1], source="test")
    model = task.build(config, info)  # as `kerazoo train` builds it: raw pixels in, logits out
    assert model.input_shape == (None, *shape) and model.output_shape == (None, 10)


def test_cifar_recipe_is_the_papers():
    config = load_config(os.path.join(os.path.dirname(CONFIGS[0]), "cifar_resnet20.yaml"))
    steps_per_epoch = -(-50000 // config.data.batch_size)  # 391
    assert (config.optimizer.name, config.optimizer.lr, config.optimizer.momentum) == ("sgd", 0.1, 0.9)
    assert config.optimizer.weight_decay == 1e-4 and config.data.batch_size == 128
    # lr / 10 at 32k and 48k iterations, stop at 64k (He et al. 2016, section 4.2)
    assert [e * steps_per_epoch // 1000 for e in config.schedule.step_epochs] == [32, 48]
    assert config.epochs * steps_per_epoch // 1000 == 64 and config.schedule.step_factor == 0.1


def test_recipes_load_by_name_from_any_folder(tmp_path, monkeypatch):
    from kerazoo.training.config import recipe_names, recipe_path

    monkeypatch.chdir(tmp_path)  # no configs/ here: the shipped recipes are found in the package
    assert {"fashion_lenet5", "cifar_resnet20"} <= set(recipe_names())
    for spelling in ("fashion_lenet5", "fashion_lenet5.yaml", "configs/fashion_lenet5.yaml"):
        assert load_config(spelling).model.name == "lenet5"
    with pytest.raises(FileNotFoundError, match=r"'fashion_lenet' is neither a file nor a shipped recipe.*Did you mean: fashion_lenet5"):
        recipe_path("fashion_lenet")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "fashion_lenet5.yaml").write_text("epochs: 2\n")
    assert load_config("configs/fashion_lenet5.yaml").epochs == 2  # a file of that path comes first


def test_malformed_yaml_is_one_line_naming_the_place(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  name: lenet5\n  kwargs: {a: 1\n")
    with pytest.raises(ValueError) as error:
        load_config(str(path))
    assert str(error.value).startswith(f"Malformed YAML in {path} at line 4") and "\n" not in str(error.value)
