"""Temporal slices: train on earlier snapshots, calibrate on a later one, test on the latest.

The as-of dates come from a design (:mod:`training.design`: derived from the data, or from
the config). Two rules keep the evaluation honest:

1. **No look-ahead between slices.** The label window of a snapshot as of T covers
   (T, T + horizon]. If that window of an earlier slice reaches past the as-of date of a later
   slice, the earlier slice's labels know about a period the later slice is supposed to
   predict; :func:`check_label_windows` refuses such a configuration and names the dates.
2. **Temporal separation.** Every slice is later than the one before, so the test slice is
   the future of everything the model and its calibrator saw. A family may appear in every
   slice (at different dates), as it will when the model scores it next year. Optionally
   (``family_disjoint``), each family also belongs to exactly one slice, by a stable
   salted hash of its id (:func:`assign_families`); the assignment does not depend on row
   order, on the other families, or on the run, so a family stays in its slice across
   retrains.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from features.errors import EarlyriskError
from training.config import SLICE_ORDER, SliceName, SlicesConfig


class SplitError(EarlyriskError, ValueError):
    """The slices cannot be built as configured (the message names the dates or counts)."""


def label_window_end(as_of: dt.date, horizon_months: int) -> dt.date:
    """Last day of the label window of a snapshot as of ``as_of``."""
    return (pd.Timestamp(as_of) + pd.DateOffset(months=horizon_months)).date()


class HasDates(Protocol):
    """A design or a slices config: as-of dates by slice name."""

    def dates(self, name: SliceName) -> tuple[dt.date, ...]: ...


def check_label_windows(slices: HasDates, *, horizon_months: int) -> None:
    """Refuse slices whose label windows reach past the as-of date of a later slice."""
    problems = []
    for i, earlier in enumerate(SLICE_ORDER):
        for later in SLICE_ORDER[i + 1 :]:
            if not slices.dates(later):
                continue
            first_later = min(slices.dates(later))
            for as_of in slices.dates(earlier):
                end = label_window_end(as_of, horizon_months)
                if end > first_later:
                    problems.append(
                        f"the {earlier} slice as of {as_of.isoformat()} has a "
                        f"{horizon_months}-month label window ending {end.isoformat()}, past "
                        f"the {later} slice's as-of date {first_later.isoformat()}"
                    )
    if problems:
        raise SplitError(
            "label windows overlap later slices: "
            + "; ".join(problems)
            + ". Move the later slice's as-of date to or after the window end, or shorten "
            "the horizon."
        )


def family_hash_unit(family_ids: pd.Series | np.ndarray, *, salt: str) -> np.ndarray:
    """A stable number in [0, 1) per family id (blake2b of salt and id)."""
    prefix = salt.encode("utf-8") + b"\x00"
    out = np.empty(len(family_ids), dtype=np.float64)
    for i, fid in enumerate(np.asarray(family_ids, dtype=object)):
        digest = hashlib.blake2b(prefix + str(fid).encode("utf-8"), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def assign_families(
    family_ids: pd.Series | np.ndarray, *, fractions: dict[SliceName, float], salt: str
) -> pd.Series:
    """The slice each family belongs to, by its hash: one slice per family, always the same."""
    ids = pd.unique(np.asarray(family_ids, dtype=object))
    u = family_hash_unit(ids, salt=salt)
    edges = np.cumsum([fractions[name] for name in SLICE_ORDER])
    idx = np.searchsorted(edges, u, side="right").clip(max=len(SLICE_ORDER) - 1)
    return pd.Series(np.asarray(SLICE_ORDER, dtype=object)[idx], index=pd.Index(ids), name="slice")


@dataclass(frozen=True)
class SliceInfo:
    """One slice on the timeline: its as-of dates, label window ends and size."""

    name: SliceName
    as_of: tuple[dt.date, ...]
    window_end: tuple[dt.date, ...]
    n_rows: int
    n_families: int
    n_positive: int

    @property
    def prevalence(self) -> float:
        return self.n_positive / self.n_rows if self.n_rows else float("nan")


@dataclass(frozen=True)
class TemporalSplit:
    """The three slices of the feature table, and their description for the report."""

    train: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame
    info: tuple[SliceInfo, ...]
    horizon_months: int
    family_disjoint: bool = False

    def frame(self, name: SliceName) -> pd.DataFrame:
        return getattr(self, name)


def temporal_split(
    table: pd.DataFrame,
    *,
    slices: HasDates,
    horizon_months: int,
    family_disjoint: bool | None = None,
    fractions: dict[SliceName, float] | None = None,
    salt: str | None = None,
) -> TemporalSplit:
    """Cut the feature table into train / calibration / test slices (see module docstring).

    ``table`` holds one row per (family_id, as_of) with ``label`` and ``label_observed``.
    ``slices`` is a :class:`training.design.Design` or a :class:`SlicesConfig` (then its
    ``family_disjoint``, ``family_fractions`` and ``salt`` are the defaults). Every row used
    must have an observed label; a slice that would be empty or hold only one class is
    refused, naming the slice and its dates. A design without test dates (the final refit)
    gives an empty test slice.
    """
    check_label_windows(slices, horizon_months=horizon_months)
    if isinstance(slices, SlicesConfig):
        family_disjoint = slices.family_disjoint if family_disjoint is None else family_disjoint
        fractions = fractions or slices.family_fractions
        salt = salt or slices.salt
    missing = [c for c in ("family_id", "as_of", "label", "label_observed") if c not in table]
    if missing:
        raise SplitError(f"feature table lacks column(s) {missing}")
    undated = [name for name in ("train", "calibration") if not slices.dates(name)]
    if undated:
        raise SplitError(
            f"no as-of dates for the {' and '.join(undated)} slice(s): give them in the config "
            "or derive a design from the data (training.design)"
        )
    if family_disjoint:
        defaults = SlicesConfig()
        owner = assign_families(
            table["family_id"],
            fractions=fractions or defaults.family_fractions,
            salt=salt or defaults.salt,
        )
        row_slice = table["family_id"].map(owner).to_numpy()
    else:
        row_slice = None
    as_of = pd.to_datetime(table["as_of"])
    present = set(as_of.unique())
    parts: dict[str, pd.DataFrame] = {}
    infos = []
    for name in SLICE_ORDER:
        dates = slices.dates(name)
        if not dates and name == "test":
            parts[name] = table.iloc[0:0].reset_index(drop=True)
            continue
        wanted = pd.DatetimeIndex([pd.Timestamp(d) for d in dates])
        absent = [d.isoformat() for d, ts in zip(dates, wanted, strict=True) if ts not in present]
        if absent:
            raise SplitError(
                f"the feature table has no snapshot as of {', '.join(absent)} for the {name} "
                f"slice (it has {sorted(t.date().isoformat() for t in present)})"
            )
        keep = as_of.isin(wanted).to_numpy()
        if row_slice is not None:
            keep = keep & (row_slice == name)
        rows = table.loc[keep]
        unobserved = rows.loc[~rows["label_observed"].astype(bool)]
        if len(unobserved):
            bad = sorted({pd.Timestamp(t).date().isoformat() for t in unobserved["as_of"]})
            raise SplitError(
                f"the {name} slice as of {', '.join(bad)} has {len(unobserved)} rows whose "
                f"{horizon_months}-month label window is not fully observed yet (it ends after "
                "the data's extraction date); choose an earlier as-of date"
            )
        n_pos = int(rows["label"].astype(int).sum())
        if len(rows) == 0 or n_pos in (0, len(rows)):
            raise SplitError(
                f"the {name} slice ({', '.join(d.isoformat() for d in dates)}) has "
                f"{len(rows)} rows and {n_pos} positive labels; it needs both classes"
            )
        parts[name] = rows.reset_index(drop=True)
        infos.append(
            SliceInfo(
                name=name,
                as_of=tuple(dates),
                window_end=tuple(label_window_end(d, horizon_months) for d in dates),
                n_rows=len(rows),
                n_families=int(rows["family_id"].nunique()),
                n_positive=n_pos,
            )
        )
    return TemporalSplit(
        train=parts["train"],
        calibration=parts["calibration"],
        test=parts["test"],
        info=tuple(infos),
        horizon_months=horizon_months,
        family_disjoint=bool(family_disjoint),
    )
