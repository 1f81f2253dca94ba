"""Vectorized nonparametric bootstrap of per-group confusion counts.

The ordinary bootstrap draws n rows with replacement, B times, and recomputes every metric.
All the rates of :mod:`training.audit.metrics` only depend on how many rows of each
*row type* were drawn, where a row type is the combination (group of every attribute,
label, selected). Drawing n rows uniformly with replacement gives type counts that follow
``Multinomial(n, c_j / n)`` exactly (c_j = rows of type j), so instead of materialising
B x n indices we draw one B x J multinomial matrix (J = number of distinct row types, usually
a few thousand) and sum it into per-group confusion tables with one sparse product per
attribute. The bootstrap distribution is identical to resampling rows; only the work changes
from O(B n) to O(B J). Resamples are drawn in chunks so memory stays bounded when J is large.

Cells are coded ``2 * label + selected``: 0 = TN, 1 = FP, 2 = FN, 3 = TP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

N_CELLS = 4
TN, FP, FN, TP = 0, 1, 2, 3


@dataclass(frozen=True)
class RowTypes:
    """Distinct row types: their group code per grouping, their cell, and how many rows."""

    group_codes: dict[str, np.ndarray]  # grouping name -> (J,) group code of each type
    cells: np.ndarray  # (J,) cell code of each type
    counts: np.ndarray  # (J,) rows of each type

    @property
    def n_rows(self) -> int:
        return int(self.counts.sum())


def cell_codes(label: np.ndarray | None, selected: np.ndarray) -> np.ndarray:
    """Cell code of every row; label-free rows count as label 0 (only selection is used)."""
    p = np.asarray(selected, dtype=np.int64)
    if label is None:
        return p
    return 2 * np.asarray(label, dtype=np.int64) + p


def row_types(
    group_codes: Mapping[str, np.ndarray],
    cells: np.ndarray,
    *,
    key: list[str] | None = None,
) -> RowTypes:
    """Collapse rows into distinct (groups..., cell) types with their counts.

    Rows are keyed by a mixed-radix integer of the codes of the ``key`` groupings (default
    all; one sort of n int64 values). Every grouping's code of a type is read back from the
    type's first row, so groupings that are functions of the key ones (intersections) must be
    left out of ``key``: they add no types, only radix.
    """
    names = list(group_codes)
    columns = [np.asarray(group_codes[name], dtype=np.int64) for name in names]
    key_columns = [columns[names.index(name)] for name in (key if key is not None else names)]
    cells = np.asarray(cells, dtype=np.int64)
    row_key = cells.copy()
    radix = N_CELLS
    overflow = False
    for column in key_columns:
        size = int(column.max()) + 1 if column.size else 1
        if radix > np.iinfo(np.int64).max // max(size, 1):
            overflow = True
            break
        row_key += column * radix
        radix *= size
    if overflow:  # too many combinations for one integer: sort the code matrix instead
        matrix = np.column_stack([*key_columns, cells])
        _, first, counts = np.unique(matrix, axis=0, return_index=True, return_counts=True)
    else:
        _, first, counts = np.unique(row_key, return_index=True, return_counts=True)
    return RowTypes(
        group_codes={name: column[first] for name, column in zip(names, columns, strict=True)},
        cells=cells[first],
        counts=counts.astype(np.int64),
    )


def observed_cell_counts(codes: np.ndarray, cells: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups, 4) confusion counts of the observed data for one grouping."""
    flat = np.asarray(codes, dtype=np.int64) * N_CELLS + np.asarray(cells, dtype=np.int64)
    return np.bincount(flat, minlength=n_groups * N_CELLS).reshape(n_groups, N_CELLS)


def _aggregation_matrix(type_codes: np.ndarray, cells: np.ndarray, n_groups: int) -> sp.csr_array:
    """Sparse (groups*4, J) 0/1 matrix that sums type counts into group-cell counts."""
    n_types = type_codes.shape[0]
    rows = type_codes * N_CELLS + cells
    data = np.ones(n_types, dtype=np.int64)
    return sp.csr_array((data, (rows, np.arange(n_types))), shape=(n_groups * N_CELLS, n_types))


def bootstrap_cell_counts(
    types: RowTypes,
    n_groups: Mapping[str, int],
    *,
    n_boot: int,
    seed: int,
    chunk_size: int = 250,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Bootstrap confusion counts: grouping name -> (n_boot, n_groups, 4) int array.

    ``progress`` is called with the number of resamples finished after each chunk.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    n = types.n_rows
    probabilities = types.counts / n
    aggregators = {
        name: _aggregation_matrix(types.group_codes[name], types.cells, n_groups[name])
        for name in n_groups
    }
    out = {name: np.empty((n_boot, n_groups[name], N_CELLS), dtype=np.int64) for name in n_groups}
    done = 0
    while done < n_boot:
        size = min(chunk_size, n_boot - done)
        draws = rng.multinomial(n, probabilities, size=size)  # (size, J)
        for name, matrix in aggregators.items():
            summed = (matrix @ draws.T).T  # (size, groups*4)
            out[name][done : done + size] = summed.reshape(size, n_groups[name], N_CELLS)
        done += size
        if progress is not None:
            progress(done)
    return out


def split_cells(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn, tn) from an array whose last axis is the 4 cells."""
    return counts[..., TP], counts[..., FP], counts[..., FN], counts[..., TN]


def nan_quantiles(
    samples: np.ndarray, quantiles: tuple[float, ...], *, min_valid: float = 0.5
) -> np.ndarray:
    """Quantiles over axis 0 ignoring NaN (linear interpolation, numpy's default method).

    A rate can be undefined in a resample (e.g. no positives drawn for a small group);
    those resamples are left out, and when more than half are undefined no interval is given
    (NaN) because it would describe a different population than the estimate. Sorting once
    and indexing is much faster than ``np.nanquantile`` on many columns.
    """
    samples = np.asarray(samples, dtype=float)
    ordered = np.sort(samples, axis=0)  # NaN sort last
    n_valid = (~np.isnan(samples)).sum(axis=0)
    usable = n_valid >= max(min_valid * samples.shape[0], 1)
    result = np.full((len(quantiles), *samples.shape[1:]), np.nan)
    last = np.maximum(n_valid - 1, 0)
    for i, q in enumerate(quantiles):
        position = q * last
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, last)
        weight = position - low
        low_value = np.take_along_axis(ordered, low[np.newaxis, ...], axis=0)[0]
        high_value = np.take_along_axis(ordered, high[np.newaxis, ...], axis=0)[0]
        values = low_value + (high_value - low_value) * weight
        result[i] = np.where(usable, values, np.nan)
    return result


def nan_std(samples: np.ndarray, *, min_valid: float = 0.5) -> np.ndarray:
    """Standard deviation over axis 0 ignoring NaN (ddof=1); NaN with too few defined."""
    samples = np.asarray(samples, dtype=float)
    valid = ~np.isnan(samples)
    count = valid.sum(axis=0)
    usable = (valid.mean(axis=0) >= min_valid) & (count >= 2)
    zeroed = np.where(valid, samples, 0.0)
    mean = np.divide(zeroed.sum(axis=0), np.maximum(count, 1))
    squares = np.where(valid, (samples - mean) ** 2, 0.0).sum(axis=0)
    std = np.sqrt(np.divide(squares, np.maximum(count - 1, 1)))
    return np.where(usable, std, np.nan)
