"""Integer codes for string ids: Arrow's C++ hash look-up, shared by the engine's modules.

Millions of string ids are compared, joined and hashed as codes or as one contiguous Arrow
array; pandas' ``get_indexer`` on Arrow-backed strings would materialise Python objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def lookup_codes(values: pd.Series, vocabulary: pd.Index) -> np.ndarray:
    """Position of each value in ``vocabulary`` (-1 for a null or an unknown value).

    Arrow's C++ hash lookup: far faster on millions of string ids than a pandas
    ``get_indexer`` on Arrow-backed strings, which materialises Python objects.
    """
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    array, value_set = arrow_strings(values), arrow_strings(vocabulary)
    found = pc.fill_null(pc.index_in(array, value_set=value_set), -1)
    return found.to_numpy(zero_copy_only=False).astype(np.int64)


def arrow_strings(values: pd.Series | pd.Index) -> pa.Array:
    """One contiguous Arrow ``large_string`` array (zero-copy for Arrow-backed strings)."""
    column = pd.Series(values).array
    if hasattr(column, "__arrow_array__"):
        array = pa.array(column)
    else:
        array = pa.array(np.asarray(column, dtype=object), type=pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def nullable_codes(values: pd.Series, vocabulary: pd.Index) -> np.ndarray:
    """Codes as float64 with NaN for null, so that ``isna``/``notna`` keep their meaning."""
    codes = lookup_codes(values, vocabulary).astype("float64")
    codes[values.isna().to_numpy()] = np.nan
    return codes
