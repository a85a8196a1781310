"""Every shipped recipe (configs/*.yaml) loads, validates and builds its model, so none can rot."""

import glob
import os

import pytest

from kerazoo.applications import get_entry
from kerazoo.datasets import DatasetInfo
from kerazoo.training import Task, load_config

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "*.yaml")))
IMAGE_SHAPES = {"fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}  # the recipes' datasets, without their files


def test_the_recipes_are_there():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"cifar_resnet20.yaml", "fashion_lenet5.yaml", "fashion_resnet20.yaml", "fashion_densenetbc.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_recipe_builds_its_model(path):
    config = load_config(path)
    assert get_entry(config.model.name).task == "classification"
    shape = IMAGE_SHAPES[config.data.dataset]
    info = DatasetInfo(name=config.data.dataset, image_shape=shape, num_classes=10, class_names=tuple("abcdefghij"),
                       mean=(0.5,) * shape[-1], std=(0.25,) * shape[-1], source="test")
    model = Task().build(config, info)  # as `kerazoo train` builds it: raw pixels in, logits out
    assert model.input_shape == (None, *shape) and model.output_shape == (None, 10)


def test_cifar_recipe_is_the_papers():
    config = load_config(os.path.join(os.path.dirname(CONFIGS[0]), "cifar_resnet20.yaml"))
    steps_per_epoch = -(-50000 // config.data.batch_size)  # 391
    assert (config.optimizer.name, config.optimizer.lr, config.optimizer.momentum) == ("sgd", 0.1, 0.9)
    assert config.optimizer.weight_decay == 1e-4 and config.data.batch_size == 128
    # lr / 10 at 32k and 48k iterations, stop at 64k (He et al. 2016, section 4.2)
    assert [e * steps_per_epoch // 1000 for e in config.schedule.step_epochs] == [32, 48]
    assert config.epochs * steps_per_epoch // 1000 == 64 and config.schedule.step_factor == 0.1
