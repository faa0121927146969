"""A PNG encoder for large outputs: 8/16-bit, grey or RGB, compressed by several threads into one valid stream.

An 8000² ×4 radiograph is 64 Mpx; Pillow encodes it in one thread with per-row adaptive filters (about 1.2 s at
zlib level 1 on the benchmark CPU, docs/benchmarks.md "A folder") while the cores that ran the network wait. Here
every row uses the PNG "Up" filter (each byte minus the byte above it: smaller files than Pillow's choice on
radiographs, docs/benchmarks.md) and the rows are cut into blocks that are filtered and deflated in parallel; the
deflaters release the GIL. Levels 1–3 deflate with Intel's ISA-L (``isal``, a dependency; zlib when it is
missing): 2.5× less writing time than zlib's level 1 on the benchmark folder (docs/benchmarks.md); 0 (stored) and
4–9 use zlib. Each block but the last ends with a *sync flush* (a byte-aligned empty stored block), so the blocks
concatenate into one deflate stream, the technique of ``pigz``; the Adler-32 of the whole is combined from the
blocks' (zlib's ``adler32_combine``). The file is an ordinary PNG (ISO/IEC 15948, one zlib stream over the IDAT
chunks) that every decoder reads; the pixels are exact at every level.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    from isal import isal_zlib
except ImportError:  # optional speed: zlib writes the same format
    isal_zlib = None

__all__ = ["encode_png", "adler32_combine"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
_BLOCK_BYTES = 4 << 20  # raw bytes per compressed block: large enough that the sync flushes cost nothing visible
_IDAT_BYTES = 1 << 24
_ADLER_BASE = 65521


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """Adler-32 of ``A + B`` from ``adler32(A)``, ``adler32(B)`` and ``len(B)`` (zlib's ``adler32_combine``)."""
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 = (sum1 + (adler2 & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    sum2 = (sum2 + (adler1 >> 16) + (adler2 >> 16) + _ADLER_BASE - rem) % _ADLER_BASE
    return sum1 | (sum2 << 16)


def _zlib_header(level: int) -> bytes:
    flevel = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
    cmf, flg = 0x78, flevel << 6
    return bytes((cmf, flg + 31 - ((cmf << 8) + flg) % 31))


def _filtered_rows(rows: np.ndarray, above: np.ndarray | None) -> np.ndarray:
    """``rows`` (R, B) bytes → (R, B + 1) with filter byte 2 ("Up"); ``above`` is the row before (None: zeros)."""
    out = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    out[:, 0] = 2
    out[0, 1:] = rows[0] if above is None else rows[0] - above
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])
    return out


def encode_png(
    arr: np.ndarray,
    path: str | os.PathLike,
    level: int = 1,
    icc: bytes | None = None,
    threads: int | None = None,
) -> None:
    """Write ``arr`` as a PNG file.

    Args:
        arr: ``(C, H, W)`` or ``(H, W)`` ``uint8`` or ``uint16``; C is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4
            (RGBA).
        path: the file to create (the caller makes it atomic).
        level: zlib level 0–9; lossless at every level.
        icc: an ICC profile for an ``iCCP`` chunk (its colour space must fit ``C``), or None.
        threads: compressing threads (default ``os.cpu_count()``); 1 compresses in the calling thread.

    Raises:
        ValueError: another dtype or channel count.
    """
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in _COLOUR_TYPE or a.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"encode_png takes (C, H, W) uint8/uint16 with C in 1..4, got {a.shape} {a.dtype}")
    c, h, w = a.shape
    depth = a.dtype.itemsize * 8
    # (H, W·C·bytes) big-endian bytes, channels interleaved: the PNG row layout
    pixels = np.moveaxis(a, 0, -1) if c > 1 else a[0]
    rows = np.ascontiguousarray(pixels, dtype=a.dtype.newbyteorder(">")).view(np.uint8).reshape(h, -1)
    per_block = max(1, _BLOCK_BYTES // (rows.shape[1] + 1))
    starts = list(range(0, h, per_block))

    def block(r0: int) -> tuple[bytes, int, int]:
        raw = _filtered_rows(rows[r0 : r0 + per_block], rows[r0 - 1] if r0 else None)
        lib = isal_zlib if isal_zlib is not None and 1 <= level <= 3 else zlib
        comp = lib.compressobj(level, lib.DEFLATED, -15)  # raw deflate: the zlib wrapper is written once
        last = r0 == starts[-1]
        data = comp.compress(raw) + comp.flush(lib.Z_FINISH if last else lib.Z_SYNC_FLUSH)
        return data, zlib.adler32(raw), raw.nbytes

    workers = max(1, min(threads or os.cpu_count() or 1, len(starts)))
    if workers == 1:
        parts = [block(r0) for r0 in starts]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="png") as pool:
            parts = list(pool.map(block, starts))
    adler = 1
    for _, a32, n in parts:
        adler = adler32_combine(adler, a32, n)
    stream = [_zlib_header(level)] + [p[0] for p in parts] + [struct.pack(">I", adler)]
    with open(path, "wb") as f:
        f.write(_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, _COLOUR_TYPE[c], 0, 0, 0)))
        if icc:
            f.write(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
        pending, size = [], 0
        for piece in stream:
            pending.append(piece)
            size += len(piece)
            if size >= _IDAT_BYTES:
                f.write(_chunk(b"IDAT", b"".join(pending)))
                pending, size = [], 0
        if pending:
            f.write(_chunk(b"IDAT", b"".join(pending)))
        f.write(_chunk(b"IEND", b""))
