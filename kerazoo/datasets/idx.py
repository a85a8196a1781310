"""Reading IDX files (the MNIST / Fashion-MNIST format, LeCun et al.), plain or gzip-compressed."""

from __future__ import annotations

import gzip
import os

import numpy as np

# IDX type codes → NumPy dtypes (big-endian where it matters).
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file into an array, checking the header against the data length.

    Raises:
        ValueError: the file is not IDX, has an unknown type code, or is truncated / has trailing bytes.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file: the first two bytes must be zero.")
    type_code, ndim = data[2], data[3]
    if type_code not in _DTYPES:
        raise ValueError(f"{path} has unknown IDX type code 0x{type_code:02x}.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: the header declares {ndim} dimensions.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path} is corrupt: header shape {shape} needs {expected} bytes of data, file has {len(data) - header}."
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array as IDX (gzip-compressed when the name ends in .gz); the inverse of ``read_idx``."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
    dtype = np.asarray(array).dtype
    if dtype not in codes:
        raise ValueError(f"IDX cannot store dtype {dtype}.")
    code = codes[dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.dtype(_DTYPES[code])).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
