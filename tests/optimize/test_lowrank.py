import numpy as np
import pytest

from kerazoo.optimize.bridge import max_output_difference
from kerazoo.optimize.lowrank import choose_rank, factorize
from optimize_helpers import tiny_cnn, tiny_images


def test_full_rank_reproduces_outputs():
    model = tiny_cnn()
    factored, ranks = factorize(model, energy=1.0, only_if_smaller=False)
    assert ranks == {"conv1": 8, "conv2": 8, "fc": 16, "predictions": 4}
    assert {"conv2_u", "conv2_v", "fc_u", "fc_v"} <= {layer.name for layer in factored.layers}
    images, _ = tiny_images(8)
    assert max_output_difference(model, factored, images) < 1e-5


def test_truncation_matches_numpy_svd():
    model = tiny_cnn()
    factored, ranks = factorize(model, rank=3, layers=["fc"])
    assert ranks == {"fc": 3}
    kernel = np.asarray(model.get_layer("fc").kernel)
    u, s, vt = np.linalg.svd(kernel, full_matrices=False)
    best_rank3 = (u[:, :3] * s[:3]) @ vt[:3]
    product = np.asarray(factored.get_layer("fc_u").kernel) @ np.asarray(factored.get_layer("fc_v").kernel)
    np.testing.assert_allclose(product, best_rank3, atol=1e-5)


def test_choose_rank_by_energy():
    s = np.array([3.0, 2.0, 1.0, 0.0])  # squared: 9, 4, 1 of 14
    assert choose_rank(s, energy=9 / 14) == 1
    assert choose_rank(s, energy=0.7) == 2
    assert choose_rank(s, energy=1.0) == 3
    assert choose_rank(s, rank=10) == 4
    with pytest.raises(ValueError, match="exactly one"):
        choose_rank(s)
    with pytest.raises(ValueError, match="energy"):
        choose_rank(s, energy=1.5)


def test_bad_layers():
    with pytest.raises(ValueError, match="not Dense"):
        factorize(tiny_cnn(), rank=2, layers=["flatten"])
    with pytest.raises(ValueError, match="not layers"):
        factorize(tiny_cnn(), rank=2, layers=["nope"])
