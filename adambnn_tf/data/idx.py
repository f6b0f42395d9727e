"""Reading IDX files, the array format of MNIST and Fashion-MNIST (optionally gzipped)."""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx"]

# The third byte of an IDX magic number names the element type.
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (`.gz` or plain) into a NumPy array.

    # Arguments
        path: the file, e.g. `train-images-idx3-ubyte.gz`.

    # Returns
        The array, with the shape the file declares (e.g. `(60000, 28, 28)` of `uint8`).

    # Raises
        ValueError: if the file is not a valid IDX file (bad magic number or truncated data),
            or a `.gz` file is not a readable gzip stream (damaged or cut short).

    !!! example
        ```python
        labels = read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
        ```
    """
    path = os.fspath(path)
    if path.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as stream:
                data = stream.read()
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise ValueError(
                f"{path} is not a readable gzip file: {error} (the download is damaged or cut "
                "short; fetch or copy it again)."
            ) from error
    else:
        with open(path, "rb") as stream:
            data = stream.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex()!r}).")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    rank = data[3]
    header_size = 4 + 4 * rank
    shape = struct.unpack(f">{rank}I", data[4:header_size])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_size != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: the header declares shape {shape} "
            f"({expected} bytes) but {len(data) - header_size} bytes follow."
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header_size)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )
