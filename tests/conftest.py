"""Test-wide settings (quiet TensorFlow, CPU only, seeds) and small real data made by the tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    # Seeds only: keras.backend.clear_session() costs ~0.9 s per test here, and every kerazoo layer is named
    # explicitly, so models built by earlier tests do not change later ones.
    keras.utils.set_random_seed(0)


def make_idx_dataset(folder, *, train=96, test=48, side=28, seed=0):
    """Write a Fashion-MNIST-shaped IDX dataset (gzip) whose class is the position of a bright bar: learnable in a
    few steps, so tests can check that training works."""
    from kerazoo.datasets import write_idx

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for split, count, stem in (("train", train, "train"), ("test", test, "t10k")):
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        images = rng.integers(0, 40, size=(count, side, side)).astype(np.uint8)
        for i, label in enumerate(labels):
            row = 2 + int(label) * (side - 4) // 10
            images[i, row : row + 2, 4:-4] = 250
        write_idx(os.path.join(folder, f"{stem}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{stem}-labels-idx1-ubyte.gz"), labels)
    return folder


@pytest.fixture(scope="session")
def idx_data_dir(tmp_path_factory):
    """A small Fashion-MNIST-format dataset in a folder of its own (pass as data_dir)."""
    return make_idx_dataset(str(tmp_path_factory.mktemp("idx") / "fashion_mnist"))


@pytest.fixture(scope="session")
def full_size_data_dir(tmp_path_factory):
    """Generated data of Fashion-MNIST's sizes (60,000 / 10,000), for code that uses the default splits."""
    return make_idx_dataset(str(tmp_path_factory.mktemp("idx_full") / "fashion_mnist"), train=60000, test=10000)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, idx_data_dir):
    """One short LeNet-5 run on the generated dataset, shared by the export and CLI tests."""
    from kerazoo.training import load_config, train

    config = load_config(overrides=[
        "model.name=lenet5", f"data.data_dir={idx_data_dir}", "data.train_split=train[:80]",
        "data.val_split=train[80:]", "data.batch_size=16", "data.augment=[]", "epochs=3", "optimizer.name=adam",
        "optimizer.lr=0.003", "optimizer.weight_decay=0", "strategy=default", "jit_compile=false",
    ])
    return train(config, str(tmp_path_factory.mktemp("runs") / "lenet"), verbose=0)
