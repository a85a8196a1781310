import os

import numpy as np
import pytest

from kerazoo.optimize import cluster
from kerazoo.optimize.report import gzip_size
from optimize_helpers import tiny_cnn


def test_clustered_layers_have_at_most_k_values_and_compress_better(tmp_path, tiny_data):
    _, _, ds = tiny_data
    model = tiny_cnn()
    clustered = cluster.cluster_model(model, ds, clusters=4, epochs=1, exclude=["conv1"], steps_per_epoch=2)
    assert len(np.unique(np.asarray(clustered.get_layer("conv1").kernel))) > 4  # excluded: untouched
    for name in ("conv2", "fc", "predictions"):
        assert len(np.unique(np.asarray(clustered.get_layer(name).kernel))) <= 4, name
    assert not [layer for layer in clustered.layers if "Cluster" in type(layer).__name__]
    sizes = {}
    for name, m in (("dense", model), ("clustered", clustered)):
        path = tmp_path / f"{name}.npy"
        np.save(path, np.concatenate([w.ravel() for w in m.get_weights()]).astype(np.float32))
        sizes[name] = (os.path.getsize(path), gzip_size(str(path)))
    assert sizes["clustered"][0] == sizes["dense"][0]  # still float32 ...
    assert sizes["clustered"][1] < 0.8 * sizes["dense"][1]  # ... but compressible


def test_bad_clusters():
    with pytest.raises(ValueError, match="clusters"):
        cluster.check_clusters(1)
