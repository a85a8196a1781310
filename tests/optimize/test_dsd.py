"""Dense-sparse-dense: the sparse phase holds the pruned weights at zero, the re-dense phase brings them back."""

import numpy as np
import pytest

from kerazoo.optimize import dsd
from kerazoo.optimize.finetune import fine_tune
from optimize_helpers import tiny_cnn


def test_redense_phase_restores_the_pruned_weights_from_zero(tiny_data):
    _, _, ds = tiny_data
    model = tiny_cnn()
    fine_tune(model, ds, epochs=2, lr=3e-3)
    before = {layer.name: np.asarray(layer.kernel).copy() for layer in model.layers if hasattr(layer, "kernel")}
    result = dsd.dsd_train(model, ds, sparsity=0.5, sparse_epochs=1, redense_epochs=1, lr=1e-3, exclude=["conv1"])

    assert not result.masks["conv1"].any()  # excluded: never pruned
    for name in ("conv2", "fc", "predictions"):
        mask = result.masks[name]
        assert abs(mask.mean() - 0.5) <= 1.0 / mask.size, (name, mask.mean())
        start = np.asarray(result.sparse.get_layer(name).kernel)
        end = np.asarray(result.model.get_layer(name).kernel)
        assert np.all(start[mask] == 0.0), name  # the re-dense phase starts with the pruned weights at zero
        # ... and trains them again (in conv2 and fc, those fed by units the ReLUs never open get no gradient and
        # stay at zero; the logits layer's inputs all live)
        assert np.mean(end[mask] != 0.0) > (0.95 if name == "predictions" else 0.25), name
    np.testing.assert_array_equal(np.asarray(model.get_layer("fc").kernel), before["fc"])  # the input is untouched
    assert result.model is not model and result.model.count_params() == model.count_params()


@pytest.mark.parametrize("kwargs, message", [
    ({"sparsity": 1.0}, "Invalid sparsity"),
    ({"sparsity": 0.5, "sparse_epochs": 0}, "sparse_epochs=0"),
    ({"sparsity": 0.5, "redense_lr": 0.0}, "redense_lr=0.0"),
])
def test_bad_arguments_are_clear_errors(tiny_data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        dsd.dsd_train(tiny_cnn(), tiny_data[2], **kwargs)
