"""Fast string ids for Arrow: ``<prefix><chunk, 5 digits><local number, zero-padded>``.

A chunk of a million-family registry has millions of events; formatting their ids one by
one (or with Arrow's cast-and-pad kernels) costs seconds per chunk. Here the ASCII bytes
are assembled with numpy from two small digit tables and handed to Arrow as the data
buffer of a string array, with no per-row Python work.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_DIGITS = 5
LOCAL_DIGITS = {"F": 6, "P": 7, "E": 9, "I": 7, "S": 7}  # I, S: interventions, scores
_LOW = 4  # digits served by the low table


@cache
def _digits(width: int) -> np.ndarray:
    """(10**width, width) ASCII digits of 0 .. 10**width - 1."""
    numbers = np.arange(10**width)
    columns = [(numbers // 10**j) % 10 for j in reversed(range(width))]
    return (np.stack(columns, axis=1) + ord("0")).astype(np.uint8)


def make_ids(prefix: str, chunk: int, local: np.ndarray) -> pa.StringArray:
    """Ids for chunk-local numbers ``local`` (unique within a chunk and prefix).

    Raises ValueError when a number does not fit the id's width (the chunk is too large).
    """
    width = LOCAL_DIGITS[prefix]
    local = np.asarray(local, dtype=np.int64)
    n = len(local)
    if n and (local.min() < 0 or local.max() >= 10**width):
        raise ValueError(
            f"{prefix!r} ids of chunk {chunk}: local numbers must lie in 0..{10**width - 1}, "
            f"got {local.min()}..{local.max()}"
        )
    if not 0 <= chunk < 10**CHUNK_DIGITS:
        raise ValueError(f"chunk index {chunk} does not fit {CHUNK_DIGITS} digits")
    head = f"{prefix}{chunk:0{CHUNK_DIGITS}d}".encode()
    row = len(head) + width
    buffer = np.empty((n, row), dtype=np.uint8)
    buffer[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    high, low = np.divmod(local, 10**_LOW)
    buffer[:, row - _LOW :] = _digits(_LOW)[low]
    buffer[:, len(head) : row - _LOW] = _digits(width - _LOW)[high]
    offsets = np.arange(n + 1, dtype=np.int32) * row
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buffer.ravel()))


def make_nullable_ids(prefix: str, chunk: int, local: np.ndarray) -> pa.Array:
    """Like :func:`make_ids`, with null where ``local`` is negative."""
    local = np.asarray(local, dtype=np.int64)
    ids = make_ids(prefix, chunk, np.maximum(local, 0))
    missing = local < 0
    if not missing.any():
        return ids
    return pc.if_else(pa.array(missing), pa.nulls(len(local), pa.string()), ids)
