"""Array kernels the validator needs to stay fast on national-size registries.

pandas' hash table on Arrow strings (``duplicated``, ``factorize``) and ``merge_asof``
dominated validation time at 100k families (~12M events): about 12 s to check that
event ids are unique, 9 s to attribute events to memberships. These kernels do the same
work on integer arrays (NumPy) and Arrow compute, with no Python loop over rows:

- :func:`duplicated` hashes fixed-width ids to 64 bits a machine word at a time, finds
  equal hashes by sorting, then confirms the candidates by exact comparison, so a hash
  collision can never report a false duplicate (ids of varying width use pandas);
- :func:`isin` and :func:`codes` probe an Arrow hash set built from the (small) parent
  side;
- :class:`KeyIndex` does what :func:`codes` does for a parent looked up again and again
  (once per slice of a streamed table): the parent's ids are hashed and sorted once, each
  look-up is a binary search of the child's hashes plus an exact comparison of the found
  ids, so a look-up costs the child's rows, not the parent's (Arrow rebuilds its hash set
  from the millions of parent ids on every call);
- :func:`text_hashes` hashes strings of any width (grouped by byte length) to 64 bits, so
  hashes of one column taken slice by slice can be compared across slices;
- :func:`covering_interval` (and :class:`CoverIndex`, its prepared form for repeated
  look-ups) finds, for each (key, day), the interval of the same key that started last on
  or before the day, with one sort of the intervals and a binary search per row
  (``np.searchsorted``), instead of sorting the millions of events.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_DAY_BITS = 17  # days since 1900-01-01 up to 2100-12-31 (73,413) fit in 17 bits
_NS_PER_DAY = 86_400 * 10**9
_EPOCH_DAYS = int(np.datetime64("1900-01-01", "D").astype(np.int64))  # days since 1970


def _text(values: pd.Series | Sequence[str] | np.ndarray) -> pa.ChunkedArray:
    """Text as an Arrow large_string ChunkedArray; zero-copy for a pandas ``str`` Series."""
    chunked = pa.chunked_array(values) if isinstance(values, pd.Series) else None
    if chunked is None:
        chunked = pa.chunked_array([pa.array(values, from_pandas=True)])
    if chunked.type != pa.large_string():
        chunked = chunked.cast(pa.large_string())
    return chunked


def _value_set(values: pd.Series | Sequence[str] | np.ndarray | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    return _text(values).combine_chunks()


def isin(series: pd.Series, values: pd.Series | Sequence[str] | np.ndarray) -> np.ndarray:
    """``series.isin(values)`` for text, computed in Arrow (null is never in).

    pandas' Arrow-string ``isin`` turns the value set into Python objects one by one,
    which dominates the run time for a foreign key against millions of ids.
    """
    found = pc.is_in(_text(series), value_set=_value_set(values))
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def codes(series: pd.Series, value_set: pa.Array) -> np.ndarray:
    """Position of each value in ``value_set`` (int32, half the memory of int64), -1 when
    absent or null."""
    positions = pc.index_in(_text(series), value_set=_value_set(value_set))
    return pc.fill_null(positions, -1).to_numpy(zero_copy_only=False).astype(np.int32)


def fixed_width_hashes(series: pd.Series) -> np.ndarray | None:
    """A 64-bit hash of each string when all are non-null with the same byte length.

    Registry ids usually are (``E00000000000042``): each Arrow chunk's data buffer is then
    an ``n x width`` byte matrix, hashed a machine word at a time with no per-row Python
    and no string objects. Returns None otherwise (the caller falls back to pandas).
    """
    chunked = _text(series)
    if len(chunked) == 0 or chunked.null_count:
        return None
    width: int | None = None
    parts = []
    for chunk in chunked.chunks:
        n = len(chunk)
        if n == 0:
            continue
        buffers = chunk.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64)[chunk.offset : chunk.offset + n + 1]
        lengths = np.diff(offsets)
        width = int(lengths[0]) if width is None else width
        if width == 0 or not (lengths == width).all():
            return None
        data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[0] + n * width]
        parts.append(_hash_rows(data.reshape(n, width)))
    return np.concatenate(parts)


def _hash_rows(matrix: np.ndarray) -> np.ndarray:
    """Hash each row of an ``n x width`` uint8 matrix to 64 bits, a machine word at a time."""
    n, width = matrix.shape
    if width == 0:
        return np.zeros(n, dtype=np.uint64)
    words = -(-width // 8)
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :width] = matrix
    as_words = padded.view(np.uint64)
    with np.errstate(over="ignore"):
        hashed = as_words[:, 0] * _MULTIPLIER
        for j in range(1, words):
            hashed = (hashed ^ as_words[:, j]) * _MULTIPLIER
        hashed ^= hashed >> np.uint64(29)
    return hashed


def text_hashes(values: pd.Series | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(a 64-bit hash of each string, which rows are non-null), for strings of any width.

    The hash depends only on the string's bytes (its byte length mixed in), never on its
    neighbours, so hashes of one column computed slice by slice are comparable. Rows are
    hashed a machine word at a time, in one group per distinct byte length (registry ids
    usually share one width: then the chunk's data buffer is used as a matrix, no copy of
    rows). A null row's hash is meaningless; ``present`` is False there.
    """
    chunked = _text(values) if isinstance(values, pd.Series) else _arrow_text(values)
    hashes = []
    present = []
    for chunk in chunked.chunks:
        h, p = _chunk_hashes(chunk)
        hashes.append(h)
        present.append(p)
    if not hashes:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
    return np.concatenate(hashes), np.concatenate(present)


def _arrow_text(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    chunked = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    if chunked.type != pa.large_string():
        chunked = chunked.cast(pa.large_string())
    return chunked


def _chunk_hashes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    n = len(chunk)
    present = pc.is_valid(chunk).to_numpy(zero_copy_only=False)
    if n == 0:
        return np.zeros(0, dtype=np.uint64), present
    buffers = chunk.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[chunk.offset : chunk.offset + n + 1]
    lengths = np.diff(offsets)
    data = (
        np.zeros(0, dtype=np.uint8)
        if buffers[2] is None
        else np.frombuffer(buffers[2], dtype=np.uint8)
    )
    widths = np.unique(lengths)
    if len(widths) == 1:
        width = int(widths[0])
        matrix = data[offsets[0] : offsets[0] + n * width].reshape(n, width)
        return _mix_width(_hash_rows(matrix), width), present
    hashes = np.empty(n, dtype=np.uint64)
    if len(widths) == 2 and widths[0] == 0:
        # one width plus empty strings or nulls (a nullable id column): the non-empty
        # rows' bytes are contiguous, still a matrix with no gather
        width = int(widths[1])
        rows = np.flatnonzero(lengths)
        matrix = data[offsets[0] : offsets[0] + len(rows) * width].reshape(len(rows), width)
        hashes[rows] = _mix_width(_hash_rows(matrix), width)
        hashes[lengths == 0] = _mix_width(np.zeros(1, dtype=np.uint64), 0)[0]
        return hashes, present
    for width in widths.tolist():
        rows = np.flatnonzero(lengths == width)
        matrix = data[offsets[rows][:, None] + np.arange(width, dtype=np.int64)]
        hashes[rows] = _mix_width(_hash_rows(matrix.reshape(len(rows), width)), width)
    return hashes, present


def _mix_width(hashes: np.ndarray, width: int) -> np.ndarray:
    """Mix the byte length in (zero padding alone would make "A" and "A\\0" equal)."""
    with np.errstate(over="ignore"):
        mixed = (hashes ^ np.uint64(width)) * _MULTIPLIER
        mixed ^= mixed >> np.uint64(32)
    return mixed


class KeyIndex:
    """A parent's distinct ids prepared once for many :meth:`codes` look-ups.

    The ids are hashed (:func:`text_hashes`) and sorted once; a look-up binary-searches
    each child value's hash and then compares the found id with the value exactly, so a
    hash shared by a child value and another id can never make a false match. Should two
    of the parent's own ids share a hash (about one chance in 10^6 at 6 million ids), the
    index falls back to :func:`codes` (an Arrow hash set per call: exact, slower).
    """

    def __init__(self, keys: pa.Array) -> None:
        self.keys = _value_set(keys)
        hashes, _ = text_hashes(self.keys)
        order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[order]
        self._order = order.astype(np.int32)
        self._collides = bool((self._sorted[1:] == self._sorted[:-1]).any())

    def __len__(self) -> int:
        return len(self.keys)

    def codes(self, series: pd.Series) -> np.ndarray:
        """Position of each value among the keys (int32), -1 when absent or null; equal to
        ``codes(series, keys)``."""
        if self._collides or len(self.keys) == 0:
            return codes(series, self.keys)
        hashes, present = text_hashes(series)
        slot = np.searchsorted(self._sorted, hashes)
        np.minimum(slot, len(self._sorted) - 1, out=slot)
        rows = np.flatnonzero(present & (self._sorted[slot] == hashes))
        candidate = self._order[slot[rows]]
        child = _text(series).take(pa.array(rows, type=pa.int64()))
        same = pc.equal(child, self.keys.take(pa.array(candidate, type=pa.int32())))
        exact = pc.fill_null(same, False).to_numpy(zero_copy_only=False).astype(bool)
        out = np.full(len(series), -1, dtype=np.int32)
        out[rows[exact]] = candidate[exact]
        return out


def duplicated(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(every row whose non-null value occurs more than once, the first row of each such value).

    Exact: rows sharing a hash are compared by value before they count.
    """
    n = len(series)
    present = series.notna().to_numpy()
    hashes = fixed_width_hashes(series)
    if hashes is None:  # ids of varying length or with nulls: pandas' hash table
        involved = series.duplicated(keep=False).to_numpy() & present
        first = involved & ~series.duplicated(keep="first").to_numpy()
        return involved, first
    involved = np.zeros(n, dtype=bool)
    first = np.zeros(n, dtype=bool)
    ordered = np.sort(hashes)
    if not (ordered[1:] == ordered[:-1]).any():  # the usual case: all distinct, no argsort
        return involved, first
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same_as_next = ordered[1:] == ordered[:-1]
    shared = np.zeros(n, dtype=bool)
    shared[:-1] |= same_as_next
    shared[1:] |= same_as_next
    candidates = np.zeros(n, dtype=bool)
    candidates[order[shared]] = True
    candidates &= present
    if not candidates.any():
        return involved, first
    positions = np.flatnonzero(candidates)
    subset = series.iloc[positions].reset_index(drop=True)
    involved[positions[subset.duplicated(keep=False).to_numpy()]] = True
    first[positions[(subset.duplicated(keep=False) & ~subset.duplicated()).to_numpy()]] = True
    return involved, first


def day_numbers(dates: pd.Series) -> np.ndarray:
    """Days since 1900-01-01 (int64), one temporary array; only meaningful for dates the
    validator accepted (1900..2100); NaT gives a large negative number."""
    nanoseconds = dates.to_numpy(dtype="datetime64[ns]").view(np.int64)
    days = nanoseconds // _NS_PER_DAY
    days -= _EPOCH_DAYS
    return days


def covering_interval(
    event_keys: np.ndarray,
    event_days: np.ndarray,
    interval_keys: np.ndarray,
    interval_starts: np.ndarray,
    interval_ends: np.ndarray,
) -> np.ndarray:
    """For each event (key, day): an interval of the same key covers the day.

    Keys are non-negative int64 (-1: the event's key has no interval). Days are day
    numbers; ``interval_ends`` uses -1 for an open interval; ends are inclusive. The
    candidate is the interval of the key that started last on or before the day (the
    one that must cover it when a key's intervals do not overlap).
    """
    return CoverIndex(interval_keys, interval_starts, interval_ends).covered(event_keys, event_days)


class CoverIndex:
    """The intervals of :func:`covering_interval` sorted once, for many look-ups (one per
    slice of a streamed table: re-sorting millions of memberships per slice made the
    streamed validator's cost grow with slices x memberships)."""

    def __init__(
        self, interval_keys: np.ndarray, interval_starts: np.ndarray, interval_ends: np.ndarray
    ) -> None:
        interval_keys = interval_keys.astype(np.int64, copy=False)
        self._unique_keys, dense = np.unique(interval_keys, return_inverse=True)
        self._dense = dense.astype(np.int64)
        interval_values = (self._dense << _DAY_BITS) | interval_starts
        self._order = np.argsort(interval_values, kind="stable")
        self._sorted_values = interval_values[self._order]
        self._ends = interval_ends

    def covered(self, event_keys: np.ndarray, event_days: np.ndarray) -> np.ndarray:
        """For each event (key, day): an interval of the same key covers the day."""
        covered = np.zeros(len(event_keys), dtype=bool)
        if len(self._unique_keys) == 0 or len(event_keys) == 0:
            return covered
        event_keys = event_keys.astype(np.int64, copy=False)
        unique_keys = self._unique_keys
        slot = np.searchsorted(unique_keys, event_keys)
        slot_ok = (event_keys >= 0) & (slot < len(unique_keys))
        slot_ok[slot_ok] &= unique_keys[slot[slot_ok]] == event_keys[slot_ok]
        event_values = (slot.astype(np.int64) << _DAY_BITS) | event_days
        candidate = np.searchsorted(self._sorted_values, event_values, side="right") - 1
        ok = slot_ok & (candidate >= 0)
        chosen = self._order[np.clip(candidate, 0, None)]
        ok &= self._dense[chosen] == slot
        end = self._ends[chosen]
        ok &= (end < 0) | (event_days <= end)
        covered[ok] = True
        return covered
