import pytest

from kerazoo.training import apply_overrides, config_from_dict, dump_config, load_config


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: resnet32\noptimizer:\n  lr: 0.05\nepochs: 3\n")
    config = load_config(str(path), ["optimizer.lr=0.2", "data.augment=[crop]", "model.kwargs={drop_path_rate: 0.1}"])
    assert config.model.name == "resnet32" and config.epochs == 3
    assert config.optimizer.lr == 0.2 and config.data.augment == ["crop"]
    assert config.model.kwargs == {"drop_path_rate": 0.1}
    assert config_from_dict(__import__("yaml").safe_load(dump_config(config))) == config  # YAML round trip


def test_int_is_accepted_for_float():
    assert load_config(overrides=["optimizer.lr=1"]).optimizer.lr == 1.0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["optimizer.lrr=0.1"], "Unknown config field 'optimizer.lrr'. Did you mean optimizer.lr"),
        (["epochs=three"], "Config field 'epochs' must be int; got 'three'"),
        (["epochs=0"], "Config field 'epochs' must be >= 1"),
        (["data.batch_size=1.5"], "Config field 'data.batch_size' must be int"),
        (["optimizer=sgd"], "Config section 'optimizer' must be a mapping"),
        (["strategy=gpu_magic"], "Config field 'strategy' must be one of auto, default"),
        (["deterministic=yes please"], "Config field 'deterministic' must be true or false"),
        (["epochs"], "expected FIELD=VALUE"),
        (["jit_compile=sometimes"], "Config field 'jit_compile' must be true, false or auto"),
    ],
)
def test_bad_fields_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(overrides=overrides)


def test_overrides_do_not_mutate_input():
    data = {"optimizer": {"lr": 0.1}}
    apply_overrides(data, ["optimizer.lr=0.3"])
    assert data == {"optimizer": {"lr": 0.1}}


def test_scientific_notation_is_a_float():
    """YAML 1.1 reads 1e-3 as a string; a float field takes it as the number it means, on the command line or in a file."""
    config = load_config(overrides=["optimizer.lr=1e-3", "optimizer.weight_decay=5E-05"])
    assert config.optimizer.lr == 0.001 and config.optimizer.weight_decay == 5e-05
    with pytest.raises(ValueError, match="'optimizer.lr' must be float"):
        load_config(overrides=["optimizer.lr=fast"])


@pytest.mark.parametrize(
    "overrides, splits",
    [
        ([], ("train[:55000]", "train[55000:]")),  # Fashion-MNIST's 55k / 5k
        (["data.dataset=digits"], ("train[:90%]", "train[90%:]")),  # train[55000:] of 1,437 images would be empty
        (["data.dataset=digits", "data.val_split=''"], ("train", "")),  # no validation: all of train
        (["data.dataset=digits", "data.train_split=train[:100]"], ("train[:100]", "train[90%:]")),
    ],
)
def test_null_splits_resolve_to_the_datasets_default(overrides, splits):
    config = load_config(overrides=overrides)
    assert (config.data.train_split, config.data.val_split) == splits


def test_parameter_server_is_refused_with_the_reason():
    from kerazoo.training.strategy import make_strategy

    with pytest.raises(ValueError, match="'strategy': strategy 'parameter_server' is not supported.*ClusterCoordinator"):
        load_config(overrides=["strategy=parameter_server"])
    with pytest.raises(ValueError, match="use 'multi_worker'"):
        make_strategy("parameter_server")
