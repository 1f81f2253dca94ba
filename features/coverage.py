"""Coverage per table: the first and latest recorded date of each raw table.

Tables of one export are not always taken on the same day: one feed stalls, another is
extracted a month later. The extraction date (the latest ``recorded_date`` of events and
outcomes) then describes the freshest table only, and a label window that ends by the
extraction date may still run past the end of the outcomes table, so its zeros mean "not
recorded yet", not "no outcome". This module says how far each table reaches, so that
``validate`` can warn, training can keep every label window inside the outcomes table's
coverage, and ``score`` and ``monitor`` can say which tables end early.

The date that tells how far a table was recorded:

========== ================== =========================================================
table      column             why
========== ================== =========================================================
events     ``recorded_date``  when each record reached the state systems
outcomes   ``recorded_date``  idem; labels are read from it
families   ``registered_date`` a registry keeps registering new families
memberships ``start_date``    a registry keeps recording births, marriages and moves
========== ================== =========================================================

``persons`` (birth dates are world dates, not recording dates) and ``protected`` (no dates)
have no coverage. Only **events** and **outcomes** are feeds whose end is checked against
the extraction date (:data:`FEED_TABLES`): a tiny or slowly changing registry can go months
without a new family, but not without a record, and a stalled outcomes feed silently turns
positive labels into zeros.

"Ends early" means more than a month before the extraction date, **and** longer than the
table's own pace makes likely by chance: a sparse table (a few dozen outcomes over five
years, as in a tiny test registry) can go two months without a record while its feed is
live. A gap counts as chance when a Poisson stream at the table's average rate would show
one that long with probability at least :data:`CHANCE_GAP` (1 %): ``gap <= ln(1 / 0.01) /
rate``. At national scale (thousands of outcomes a year) that bound is hours, so the month
is what applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COVERAGE_COLUMNS: dict[str, str] = {
    "events": "recorded_date",
    "outcomes": "recorded_date",
    "families": "registered_date",
    "memberships": "start_date",
}
FEED_TABLES: tuple[str, ...] = ("events", "outcomes")
STALE_AFTER_MONTHS = 1
CHANCE_GAP = 0.01


@dataclass(frozen=True)
class TableCoverage:
    """First and latest date of one table's recording column (None: no dated row)."""

    table: str
    column: str
    first: dt.date | None
    latest: dt.date | None
    rows: int = 0  # rows with a date

    def chance_gap_days(self) -> float:
        """The longest gap after the last record that the table's pace explains by chance."""
        if self.first is None or self.latest is None or self.rows < 2:
            return float("inf")
        span = max((self.latest - self.first).days, 1)
        rate = (self.rows - 1) / span
        return float(np.log(1.0 / CHANCE_GAP) / rate)

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready form (ISO dates)."""
        return {
            "column": self.column,
            "first": None if self.first is None else self.first.isoformat(),
            "latest": None if self.latest is None else self.latest.isoformat(),
        }

    def describe(self) -> str:
        """``outcomes recorded 2021-01-03 .. 2025-04-30`` (or ``... has no dated row``)."""
        if self.latest is None or self.first is None:
            return f"{self.table} has no dated row ({self.column})"
        return f"{self.table} {self.column} {self.first.isoformat()} .. {self.latest.isoformat()}"


def _span(table: str, column: str, dates: pd.Series) -> TableCoverage:
    values = pd.to_datetime(dates, errors="coerce")
    lo, hi = values.min(), values.max()
    return TableCoverage(
        table=table,
        column=column,
        first=None if pd.isna(lo) else pd.Timestamp(lo).date(),
        latest=None if pd.isna(hi) else pd.Timestamp(hi).date(),
        rows=int(values.notna().sum()),
    )


def coverage_of_frames(tables: Mapping[str, pd.DataFrame]) -> dict[str, TableCoverage]:
    """Coverage of in-memory tables (e.g. :class:`features.raw.RawTables` items)."""
    out: dict[str, TableCoverage] = {}
    for name, column in COVERAGE_COLUMNS.items():
        frame = tables.get(name)
        if frame is not None and column in frame.columns:
            out[name] = _span(name, column, frame[column])
    return out


def coverage_of_raw(raw: object) -> dict[str, TableCoverage]:
    """Coverage of a loaded registry (anything with the tables as attributes)."""
    return coverage_of_frames(
        {name: getattr(raw, name) for name in COVERAGE_COLUMNS if hasattr(raw, name)}
    )


def coverage_of_dir(raw_dir: Path | str) -> dict[str, TableCoverage]:
    """Coverage of a raw directory, reading only the one date column of each table.

    A table or column that is missing or unreadable is left out (the validator reports
    it); malformed dates are ignored here (the validator reports them too).
    """
    import pyarrow
    import pyarrow.parquet as pq

    from features.raw import table_path

    out: dict[str, TableCoverage] = {}
    for name, column in COVERAGE_COLUMNS.items():
        try:
            path = table_path(raw_dir, name)
            if path.suffix == ".parquet":
                if column not in pq.read_schema(path).names:
                    continue
                values = pq.read_table(path, columns=[column]).column(column).to_pandas()
            else:
                values = pd.read_csv(path, usecols=[column], dtype=str)[column]
        except (OSError, ValueError, KeyError, pyarrow.ArrowException):
            continue
        out[name] = _span(name, column, values)
    return out


def stale_cutoff(extraction: dt.date, months: int = STALE_AFTER_MONTHS) -> dt.date:
    """The date before which a feed's latest record counts as ending early."""
    return (pd.Timestamp(extraction) - pd.DateOffset(months=months)).date()


def stale_tables(
    coverage: Mapping[str, TableCoverage],
    extraction: dt.date | None,
    *,
    months: int = STALE_AFTER_MONTHS,
) -> list[TableCoverage]:
    """Feed tables whose latest record is more than ``months`` before ``extraction``, by a
    gap the table's own pace does not explain (module docstring)."""
    if extraction is None:
        return []
    cutoff = stale_cutoff(extraction, months)
    return [
        cov
        for name in FEED_TABLES
        if (cov := coverage.get(name)) is not None
        and cov.latest is not None
        and cov.latest < cutoff
        and (extraction - cov.latest).days > cov.chance_gap_days()
    ]


def coverage_warnings(
    coverage: Mapping[str, TableCoverage], extraction: dt.date | None
) -> list[str]:
    """One plain sentence per feed table that ends more than a month before ``extraction``."""
    if extraction is None:
        return []
    lines = []
    for cov in stale_tables(coverage, extraction):
        assert cov.latest is not None
        gap = (pd.Timestamp(extraction) - pd.Timestamp(cov.latest)).days
        lines.append(
            f"table {cov.table} ends on {cov.latest.isoformat()} ({cov.column}), {gap} days "
            f"before the extraction date {extraction.isoformat()} (more than "
            f"{STALE_AFTER_MONTHS} month): it was extracted earlier or its feed stalled; "
            + (
                "labels after its end are not observed (training keeps label windows inside "
                "it; realized performance waits for it)"
                if cov.table == "outcomes"
                else "indicators read nothing recorded after its end"
            )
        )
    return lines


def outcomes_through(
    coverage: Mapping[str, TableCoverage], extraction: dt.date
) -> tuple[dt.date, bool]:
    """The date by which label windows must end, and whether the outcomes table set it.

    The extraction date, unless the outcomes table ends more than a month before it: then
    the outcomes table's latest ``recorded_date`` (nothing later can be a label).
    """
    outcomes = coverage.get("outcomes")
    if outcomes is not None and outcomes in stale_tables(coverage, extraction):
        assert outcomes.latest is not None
        return outcomes.latest, True
    return extraction, False


def dir_coverage_warnings(raw_dir: Path | str) -> list[str]:
    """:func:`coverage_warnings` of a raw directory, its extraction date taken from the feeds
    (the latest of their latest dates): what ``score`` and ``monitor`` print."""
    coverage = coverage_of_dir(raw_dir)
    latest = [c.latest for name in FEED_TABLES if (c := coverage.get(name)) and c.latest]
    return coverage_warnings(coverage, max(latest)) if latest else []


def mask_labels_past_outcomes(
    table: pd.DataFrame, *, through: dt.date, horizon_months: int
) -> pd.DataFrame:
    """``table`` with ``label_observed`` False where the label window ends after ``through``
    (the outcomes table's end): such a label is "not recorded yet", not a realized 0."""
    from features.labels import horizon_end

    as_of = pd.to_datetime(table["as_of"])
    ends = {d: horizon_end(d, horizon_months) for d in as_of.unique()}
    past = as_of.map(ends) > pd.Timestamp(through)
    out = table.copy()
    out["label_observed"] = out["label_observed"].astype(bool) & ~past.to_numpy()
    return out
