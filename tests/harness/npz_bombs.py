"""Hostile ``.npz`` files, built by hand: deflate bombs, lying headers, huge directories."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

_BLOCK = 1 << 20
"""Each repeated deflate block holds this many zero bytes."""


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """The ``.npy`` magic and header of an array of ``shape`` and ``descr`` (format 1.0)."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _zeros_stream(header: bytes, blocks: int) -> bytes:
    """A raw deflate stream of ``header`` then ``blocks`` MiB of zeros, without compressing them.

    After a full flush the compressor starts afresh, so the compressed form of one MiB of zeros
    is the same bytes every time: the stream repeats it instead of deflating gigabytes.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    zeros = compressor.compress(bytes(_BLOCK)) + compressor.flush(zlib.Z_FULL_FLUSH)
    # 0x03 0x00: an empty final block with fixed codes, ending the stream.
    return start + zeros * blocks + b"\x03\x00"


def _zip64(name: str, data: bytes, *, size: int, crc: int, method: int) -> bytes:
    """A one-member zip with zip64 sizes: ``data`` as stored, declaring ``size`` bytes."""
    encoded = name.encode()
    local = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 45, 0, method, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
        len(encoded), 20,
    )  # fmt: skip
    local += encoded + struct.pack("<2H2Q", 1, 16, size, len(data))
    directory = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, method, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
        len(encoded), 28, 0, 0, 0, 0, 0xFFFFFFFF,
    )  # fmt: skip
    directory += encoded + struct.pack("<2H3Q", 1, 24, size, len(data), 0)
    offset = len(local) + len(data)
    end64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 1, 1, len(directory), offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, offset + len(directory), 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return local + data + directory + end64 + locator + end


def deflate_bomb(path: Path, *, mib: int, name: str = "y") -> int:
    """Write an ``.npz`` of about ``mib`` MiB whose one float64 array inflates ~1000 times as
    large (its header and zip sizes consistent, its CRC not: nothing should get that far).
    Returns the declared size in bytes."""
    blocks = mib * 1000
    header = npy_header((blocks * _BLOCK // 8,))
    stream = _zeros_stream(header, blocks)
    size = len(header) + blocks * _BLOCK
    path.write_bytes(_zip64(f"{name}.npy", stream, size=size, crc=0, method=zlib.DEFLATED))
    return size


def stored_member(path: Path, payload: bytes, *, size: int, name: str = "y") -> None:
    """Write an ``.npz`` holding ``payload`` stored (uncompressed) but declaring ``size``."""
    path.write_bytes(_zip64(f"{name}.npy", payload, size=size, crc=zlib.crc32(payload), method=0))
