"""Fixtures for the serving tests: tiny SavedModels (8x8x1 inputs, written by ``serving_helpers.export_version``
with Keras) and running servers.

Each version follows the model-repository contract (``serving_default``: ``images`` float32 [batch, 8, 8, 1] raw
pixels -> ``probabilities`` and ``logits`` [batch, 3]) and adds signatures that exercise the rest of TF Serving's
API: ``serving_bytes`` (PNG bytes as DT_STRING, for ``{"b64": ...}``), ``two_inputs`` (named inputs),
``classify`` and ``regress`` (tf.Example input; their SignatureDef method names are set to TF Serving's classify and
regress methods, as TF1 exporters did). Version N's first logit carries a bias of N, so responses tell versions apart.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from serving_helpers import export_version

@pytest.fixture(scope="session")
def model_store(tmp_path_factory):
    """Version folders 1 and 2 of the tiny model, exported once per session: {version: path}."""
    root = tmp_path_factory.mktemp("store")
    return {v: export_version(str(root / str(v)), v) for v in (1, 2)}


@pytest.fixture
def make_repo(tmp_path, model_store):
    """make_repo({"name": [versions]}) -> a repository folder holding copies of those versions."""

    def make(layout=None):
        repo = tmp_path / "models"
        for name, versions in (layout or {"tiny": [1]}).items():
            (repo / name).mkdir(parents=True, exist_ok=True)
            for version in versions:
                shutil.copytree(model_store[1 if version % 2 else 2], repo / name / str(version))
        return str(repo)

    return make


@pytest.fixture(scope="module")
def module_server(tmp_path_factory, model_store):
    """One server (REST + gRPC, batching on) shared by a module: models "tiny" (versions 1, 2, labels) and "other"."""
    from kerazoo.serving import BatchingOptions, serve

    repo = tmp_path_factory.mktemp("repo")
    for name, versions in {"tiny": [1, 2], "other": [1]}.items():
        for version in versions:
            shutil.copytree(model_store[version], repo / name / str(version))
    config = repo / "models.config"
    config.write_text(
        "model_config_list {\n"
        "  config { name: 'tiny' base_path: 'tiny' model_platform: 'tensorflow'\n"
        "           model_version_policy { all {} }\n"
        "           version_labels { key: 'stable' value: 1 } version_labels { key: 'canary' value: 2 }\n"
        "           version_labels { key: 'missing' value: 7 } }\n"
        "  config { name: 'other' base_path: '/models/other' }\n"
        "}\n"
    )
    server = serve(str(repo), rest_port=0, grpc_port=0, model_config_file=str(config), poll_interval=0,
                   batching=BatchingOptions(max_batch_size=8, batch_timeout_micros=2000, num_batch_threads=1),
                   max_request_bytes=256 * 1024)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reference(model_store):
    """reference(images, version) -> the logits the SavedModel itself gives (no server)."""
    import tensorflow as tf

    loaded = {v: tf.saved_model.load(p) for v, p in model_store.items()}

    def logits(images, version):
        out = loaded[version].signatures["serving_default"](images=tf.constant(np.asarray(images, np.float32)))
        return out["logits"].numpy()

    return logits
