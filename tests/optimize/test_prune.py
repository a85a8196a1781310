import numpy as np
import pytest

from kerazoo.optimize import prune
from kerazoo.optimize.bridge import to_tf_keras
from kerazoo.optimize.finetune import layer_sparsity
from optimize_helpers import tiny_cnn


@pytest.mark.parametrize("schedule", ["constant", pytest.param("polynomial", marks=pytest.mark.slow)])
def test_sparsity_per_layer_equals_target_and_excluded_layer_stays_dense(tiny_data, schedule):
    _, _, ds = tiny_data
    pruned = prune.prune_model(tiny_cnn(), ds, sparsity=0.75, epochs=2, schedule=schedule, exclude=["conv1"])
    sparsity = layer_sparsity(pruned)
    assert sparsity.pop("conv1") == 0.0
    for name, value in sparsity.items():
        assert abs(value - 0.75) <= 1.0 / np.prod(pruned.get_layer(name).kernel.shape), (name, value)


def test_stripped_model_has_no_wrappers(tiny_data):
    _, _, ds = tiny_data
    wrapped = prune.apply_pruning(to_tf_keras(tiny_cnn()), prune.make_schedule("constant", 0.5, 4))
    assert any(type(layer).__name__ == "PruneLowMagnitude" for layer in wrapped.layers)
    stripped = prune.strip(wrapped)
    assert not [layer.name for layer in stripped.layers if "Prune" in type(layer).__name__ or hasattr(layer, "layer")]
    assert [layer.name for layer in stripped.layers] == [layer.name for layer in tiny_cnn().layers]


@pytest.mark.slow
def test_structured_2_by_4(tiny_data):
    import tensorflow as tf
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_utils import is_pruned_m_by_n

    _, _, ds = tiny_data
    pruned = prune.prune_model(tiny_cnn(), ds, epochs=1, m_by_n=(2, 4), exclude=["conv1"], schedule="constant")
    for name in ("conv2", "fc"):
        kernel = np.asarray(pruned.get_layer(name).kernel)
        assert np.mean(kernel == 0) == pytest.approx(0.5)
        assert bool(is_pruned_m_by_n(tf.constant(kernel), (2, 4)))


def test_schedule_frequency_is_set_from_the_steps():
    schedule = prune.make_schedule("constant", 0.8, total_steps=12)
    assert schedule.get_config()["config"]["frequency"] == 1  # never tfmot's default of 100
    poly = prune.make_schedule("polynomial", 0.8, total_steps=400).get_config()["config"]
    assert poly["end_step"] <= 300 and poly["end_step"] % poly["frequency"] == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="sparsity"):
        prune.make_schedule("constant", 1.5, 10)
    with pytest.raises(ValueError, match="constant, polynomial"):
        prune.make_schedule("cubic", 0.5, 10)
    with pytest.raises(ValueError, match="conv_1.*conv1"):
        prune.prunable_layer_names(to_tf_keras(tiny_cnn()), exclude=["conv_1"])
