"""Read and write the idx format, the plain binary layout MNIST is shipped in.

An idx file is a 4-byte magic number, one big-endian 32-bit size per dimension,
then the values in C order, big-endian:

    byte 0-1   0x00 0x00
    byte 2     type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64)
    byte 3     number of dimensions
    then       ndim sizes, 4 bytes each, then the data

MNIST's images are ``(60000, 28, 28)`` uint8 and its labels ``(60000,)`` uint8.
Files may be gzipped; the reader tells by the gzip magic bytes, not the name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """A file is not a well-formed idx file (bad magic, wrong or truncated size)."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file, gzipped or not, into a native-endian numpy array.

    Args:
        path: the file to read.

    Returns:
        The array, with the shape and type the header announces.

    Raises:
        IdxError: the file is not idx, or its size disagrees with its header.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise IdxError(
                f"{path}: damaged or truncated gzip file ({error})"
            ) from None
    return parse_idx(raw, name=str(path))


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) idx file; see :func:`read_idx`."""
    if len(raw) < 4:
        raise IdxError(f"{name}: only {len(raw)} bytes, too short for an idx header")

    zero_bytes, type_code, ndim = raw[:2], raw[2], raw[3]
    if zero_bytes != b"\x00\x00" or type_code not in TYPE_CODES or ndim == 0:
        raise IdxError(
            f"{name}: not an idx file (magic number 0x{raw[:4].hex()}; expected"
            " 0x0000 then a type code such as 08 and the number of dimensions)"
        )

    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise IdxError(f"{name}: truncated inside the header ({len(raw)} bytes)")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", ndim, offset=4))

    dtype = TYPE_CODES[type_code]
    expected = int(np.prod(shape)) * dtype.itemsize
    found = len(raw) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "longer than its header says"
        raise IdxError(
            f"{name}: {problem}: header announces shape {shape} of {dtype.name}"
            f" ({expected:,} bytes of data) but {found:,} bytes follow"
        )

    data = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an idx file; gzip it when ``path`` ends in ``.gz``."""
    array = np.asarray(array)
    codes = {dtype.name: code for code, dtype in TYPE_CODES.items()}
    if array.dtype.name not in codes or array.ndim == 0:
        raise IdxError(
            f"write_idx: cannot store a {array.ndim}-d {array.dtype} array; idx holds"
            " arrays of at least one dimension of uint8, int8, int16, int32,"
            " float32 or float64"
        )

    code = codes[array.dtype.name]
    header = bytes([0, 0, code, array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    body = array.astype(TYPE_CODES[code]).tobytes()

    path = Path(path)
    if path.suffix == ".gz":
        # mtime=0 so that the same array always gives the same bytes.
        path.write_bytes(gzip.compress(header + body, mtime=0))
    else:
        path.write_bytes(header + body)
