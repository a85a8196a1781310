import gzip

import numpy as np
import pytest

from kerazoo.datasets import read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4) if dtype != np.uint8 else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, array)


def test_header_is_the_mnist_format(tmp_path):
    # The MNIST label-file header: magic 0x00000801, then the count, big-endian.
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    np.testing.assert_array_equal(read_idx(path), [7, 2, 1])


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "images.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(100))
    with pytest.raises(ValueError, match="corrupt: header shape \\(2, 28, 28\\) needs 1568 bytes"):
        read_idx(path)


def test_not_idx_and_unknown_type(tmp_path):
    (tmp_path / "x").write_bytes(b"PNG....")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x")
    (tmp_path / "y").write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="unknown IDX type code 0x42"):
        read_idx(tmp_path / "y")
