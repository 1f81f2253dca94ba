"""The monthly time grid of a synthetic registry, in integer days since 1970-01-01.

The generator steps month by month across all families of a chunk at once. Dates are kept
as ``int64`` day numbers (what Arrow's ``date32`` stores), so no datetime objects are made
per record. The grid runs 12 months past the period's end: the true label probability at
the last quarter end needs the composition of the 12 months that follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

HORIZON_MONTHS = 12


def day_number(value: date) -> int:
    """Days since 1970-01-01 (Arrow ``date32``) of ``value``."""
    return int(np.datetime64(value, "D").astype(np.int64))


@dataclass(frozen=True)
class Calendar:
    """Months of the period (plus a 12-month tail) and the quarter ends of the period."""

    start_day: int
    end_day: int
    month_start: np.ndarray  # (n_ext + 1,) first day of each month; last entry exclusive end
    n_months: int  # months that overlap the period
    quarter_end_days: np.ndarray  # quarter ends within [start, end]
    quarter_end_months: np.ndarray  # month index of each quarter end

    @classmethod
    def build(cls, start: date, end: date) -> Calendar:
        """The grid from the month of ``start`` to 12 months after the month of ``end``."""
        first = np.datetime64(start, "M")
        last = np.datetime64(end, "M")
        n_months = int((last - first).astype(int)) + 1
        months = first + np.arange(n_months + HORIZON_MONTHS + 1)
        month_start = months.astype("datetime64[D]").astype(np.int64)
        start_day, end_day = day_number(start), day_number(end)
        ends = month_start[1 : n_months + 1] - 1  # last day of each period month
        month_of_year = (months[:n_months].astype(int) % 12) + 1
        is_quarter_end = (month_of_year % 3 == 0) & (ends >= start_day) & (ends <= end_day)
        return cls(
            start_day=start_day,
            end_day=end_day,
            month_start=month_start,
            n_months=n_months,
            quarter_end_days=ends[is_quarter_end],
            quarter_end_months=np.flatnonzero(is_quarter_end),
        )

    @property
    def n_ext(self) -> int:
        """Months of the period plus the 12-month tail."""
        return self.n_months + HORIZON_MONTHS

    @property
    def first_day(self) -> np.ndarray:
        """(n_months,) first day of each period month that lies in the period."""
        return np.maximum(self.month_start[: self.n_months], self.start_day)

    @property
    def last_day(self) -> np.ndarray:
        """(n_months,) last day of each period month that lies in the period."""
        return np.minimum(self.month_start[1 : self.n_months + 1] - 1, self.end_day)

    @property
    def month_of_year(self) -> np.ndarray:
        """(n_ext,) calendar month 1..12 of each grid month."""
        months = self.month_start[: self.n_ext].astype("datetime64[D]").astype("datetime64[M]")
        return (months.astype(int) % 12) + 1

    def month_of_day(self, days: np.ndarray) -> np.ndarray:
        """Grid month index containing each day (days before the grid give -1)."""
        return np.searchsorted(self.month_start, days, side="right") - 1

    def random_day(self, rng: np.random.Generator, months: np.ndarray) -> np.ndarray:
        """A uniformly drawn day inside the period part of each given period month."""
        lo = self.first_day[months]
        hi = self.last_day[months]
        return lo + np.floor(rng.random(len(months)) * (hi - lo + 1)).astype(np.int64)
