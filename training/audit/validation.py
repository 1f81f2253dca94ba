"""Checks of the audited table: every error names the column, the rule and offending values.

The audit runs on score files of any origin (ours, a legacy tool's export), so bad input is
expected and must be explained, never silently repaired: missing scores or labels are an
error (dropping those rows could hide exactly the families a tool handles badly), while a
missing *group* value is kept as its own group (see :mod:`training.audit.groups`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.errors import EarlyriskError


class AuditInputError(EarlyriskError, ValueError):
    """The table or options given to the audit break a rule; the message says which."""


def _examples(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in index[:limit])
    return shown + (", ..." if len(index) > limit else "")


def check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Every requested column exists and none is used twice."""
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        available = ", ".join(map(str, frame.columns))
        raise AuditInputError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; the table has: {available}"
        )
    seen: set[str] = set()
    duplicated = [c for c in columns if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
    if duplicated:
        raise AuditInputError(
            f"column(s) {', '.join(map(repr, duplicated))} used in more than one role "
            "(score, label and group columns must differ)"
        )


def score_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The score column as float64; numeric, no missing and no infinite values."""
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        sample = ", ".join(repr(v) for v in series.dropna().unique()[:5])
        raise AuditInputError(
            f"score column {column!r} must be numeric; found values such as {sample}"
        )
    missing = series.isna()
    if missing.any():
        raise AuditInputError(
            f"score column {column!r} has {int(missing.sum())} missing value(s) "
            f"(rows {_examples(frame.index[missing.to_numpy()])}); every audited row needs a score"
        )
    values = series.to_numpy(dtype=float)
    infinite = ~np.isfinite(values)
    if infinite.any():
        raise AuditInputError(
            f"score column {column!r} has {int(infinite.sum())} infinite value(s) "
            f"(rows {_examples(frame.index[infinite])})"
        )
    return values


def label_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The label column as int8 0/1; booleans or numbers equal to 0 and 1 only, none missing."""
    series = frame[column]
    missing = series.isna()
    if missing.any():
        raise AuditInputError(
            f"label column {column!r} has {int(missing.sum())} missing value(s) "
            f"(rows {_examples(frame.index[missing.to_numpy()])}); an outcome that is not yet "
            "known cannot be audited as 0 - drop those rows explicitly or omit --label"
        )
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.int8)
    if not pd.api.types.is_numeric_dtype(series):
        sample = ", ".join(repr(v) for v in series.unique()[:5])
        raise AuditInputError(
            f"label column {column!r} must hold 0 and 1 only; found non-numeric values {sample}"
        )
    values = series.to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        found = ", ".join(f"{v:g}" for v in np.unique(values[bad])[:5])
        raise AuditInputError(
            f"label column {column!r} must hold 0 and 1 only; found {found} in "
            f"{int(bad.sum())} row(s) (rows {_examples(frame.index[bad])})"
        )
    return values.astype(np.int8)


def is_binary_score(values: np.ndarray) -> bool:
    """True when the score only takes the values 0 and 1 (a legacy tool's high/low flag)."""
    return bool(np.isin(np.unique(values), (0.0, 1.0)).all())
