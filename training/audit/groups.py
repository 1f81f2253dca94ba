"""Encoding of audit group columns into integer codes, keeping missing values as a group.

A row whose group is missing is never dropped: it is reported as its own group
:data:`MISSING_GROUP`, because families with an unrecorded attribute are often exactly the
ones an audit must not lose sight of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

MISSING_GROUP = "(missing)"
GroupingKind = Literal["overall", "attribute", "intersection"]
OVERALL = "(all)"


@dataclass(frozen=True)
class Grouping:
    """One way of splitting the rows: a single attribute or the intersection of two."""

    name: str
    attributes: tuple[str, ...]
    kind: GroupingKind
    codes: np.ndarray  # (n,) int64 code of every row
    categories: tuple[str, ...]  # label of each code

    @property
    def n_groups(self) -> int:
        return len(self.categories)


def _label(value: object) -> str:
    """Printable group label: whole numbers without ``.0``, everything else via ``str``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_attribute(frame: pd.DataFrame, column: str) -> Grouping:
    """Integer codes of one group column; categories in sorted value order, ``(missing)`` last."""
    codes, uniques = pd.factorize(frame[column], sort=True, use_na_sentinel=True)
    categories = [_label(v) for v in uniques]
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0
    if missing.any():
        codes = np.where(missing, len(categories), codes)
        categories.append(MISSING_GROUP)
    if len(set(categories)) != len(categories):
        raise ValueError(
            f"group column {column!r} has distinct values that print the same "
            f"({categories}); convert it to one type first"
        )
    return Grouping(column, (column,), "attribute", codes, tuple(categories))


INTERSECTION_JOIN = " & "


def intersect(first: Grouping, second: Grouping) -> Grouping:
    """The intersection grouping of two attributes; only combinations that occur are kept."""
    combined = first.codes * second.n_groups + second.codes
    observed, codes = np.unique(combined, return_inverse=True)
    categories = tuple(
        f"{first.categories[c // second.n_groups]}{INTERSECTION_JOIN}"
        f"{second.categories[c % second.n_groups]}"
        for c in observed
    )
    return Grouping(
        name=f"{first.name}{INTERSECTION_JOIN}{second.name}",
        attributes=(*first.attributes, *second.attributes),
        kind="intersection",
        codes=codes.astype(np.int64),
        categories=categories,
    )


def overall_grouping(n_rows: int) -> Grouping:
    """The whole population as a single group, so overall metrics share the group code path."""
    return Grouping(OVERALL, (), "overall", np.zeros(n_rows, dtype=np.int64), (OVERALL,))
