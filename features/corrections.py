"""Accepted corrections of raw records, applied with point-in-time meaning.

A family may contest a record (a debt it repaid, a school absence that was an illness) and
have it voided or amended on documents (issue 23). The corrections table
(:data:`features.contract.CORRECTION_COLUMNS`) is optional in a raw directory; only its
*accepted* rows change data, and only events are correctable
(:data:`features.contract.CORRECTABLE`).

Why versions instead of editing rows: a correction is known from its decided date. A
feature as of T must see the record as the state knew it on T, so a corrected event
becomes one row per version, each visible on a knowledge interval:

- the original keeps its ``recorded_date`` and gets ``retracted_date`` = the first
  correction's decided date;
- each amended version counts as recorded on its correction's decided date and is
  retracted by the next correction (a void leaves no version after it).

:func:`features.aggregations.window_mask` hides a row from T on when ``retracted_date <=
T``, so every as-of date of one feature build sees exactly one version (or none), and a
snapshot before the decision is unchanged. ``rewrite_history`` (a training option) applies
every accepted correction whatever its date: a voided record is gone, an amended one
replaced in place (the model never learns from the wrong record).

Pure functions of frames: the pandas engine, the Spark engine (inside its partitions) and
the service's re-score call the same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from features.contract import CORRECTABLE, CORRECTION_COLUMNS, CORRECTIONS_TABLE
from features.raw import DATE_DTYPE

CorrectionMode = Literal["from_decided_date", "rewrite_history"]
CORRECTION_MODES: tuple[str, ...] = get_args(CorrectionMode)
#: The column a point-in-time application adds to events: from this date on the row is
#: no longer what the state knows (NaT: never retracted).
RETRACTED = "retracted_date"
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in CORRECTION_COLUMNS)


def empty_corrections() -> pd.DataFrame:
    """A corrections frame without rows, in the in-memory types."""
    return typed_corrections(pd.DataFrame({name: pd.Series(dtype=object) for name in COLUMN_NAMES}))


def typed_corrections(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the contract's columns in order: dates ``datetime64[ns]``, the rest
    text (blank = null). Values that do not convert raise ValueError naming the column;
    the validator reports them row by row beforehand."""
    missing = [name for name in COLUMN_NAMES if name not in frame.columns]
    if missing:
        raise KeyError(f"table {CORRECTIONS_TABLE!r} lacks column(s) {missing}")
    out: dict[str, pd.Series] = {}
    for column in CORRECTION_COLUMNS:
        series = frame[column.name]
        if column.kind == "date":
            try:
                out[column.name] = pd.to_datetime(series, format="ISO8601").astype(DATE_DTYPE)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{CORRECTIONS_TABLE}.{column.name}: {error}") from error
        else:
            text = series.astype("string").str.strip()
            out[column.name] = text.where(text.str.len() > 0, pd.NA).astype(object)
            out[column.name] = out[column.name].where(out[column.name].notna(), None)
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def corrections_path(raw_dir: Path | str) -> Path | None:
    """The corrections file of ``raw_dir`` (Parquet preferred), None when there is none."""
    for suffix in (".parquet", ".csv"):
        candidate = Path(raw_dir) / f"{CORRECTIONS_TABLE}{suffix}"
        if candidate.exists():
            return candidate
    return None


def read_corrections(raw_dir: Path | str) -> pd.DataFrame:
    """The corrections of ``raw_dir`` typed (an empty frame when it has none); no rule is
    checked here (:func:`features.validation.corrections.load_corrections` does)."""
    path = corrections_path(raw_dir)
    if path is None:
        return empty_corrections()
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return typed_corrections(frame)


def write_corrections(frame: pd.DataFrame, raw_dir: Path | str) -> Path:
    """Write ``frame`` as ``raw_dir/corrections.parquet`` (the contract's columns)."""
    path = Path(raw_dir) / f"{CORRECTIONS_TABLE}.parquet"
    typed_corrections(frame).to_parquet(path, index=False)
    return path


def accepted(corrections: pd.DataFrame | None, table: str = "events") -> pd.DataFrame:
    """The accepted corrections of ``table``'s records in the order they apply (decided
    date, then correction id)."""
    if corrections is None or corrections.empty:
        return empty_corrections()
    keep = (corrections["status"] == "accepted") & (corrections["record_table"] == table)
    return corrections.loc[keep].sort_values(["decided_date", "correction_id"], kind="stable")


def amended_value(field: str, text: str) -> object:
    """The typed value of an amend of events.``field`` (ValueError when it does not parse;
    the validator and the service refuse such a correction before it gets here)."""
    kind = CORRECTABLE["events"][1][field]
    if kind == "float":
        value = float(text)
        if not np.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number")
        return value
    if kind == "date":
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d"))
    return text


def apply_corrections(
    events: pd.DataFrame,
    corrections: pd.DataFrame | None,
    *,
    mode: CorrectionMode = "from_decided_date",
) -> pd.DataFrame:
    """``events`` with the accepted corrections of its records applied (see the module
    docstring). Corrections of records not in ``events`` (another partition's) are
    ignored. ``from_decided_date`` adds the :data:`RETRACTED` column when anything is
    corrected; ``rewrite_history`` returns the contract's columns only."""
    if mode not in CORRECTION_MODES:
        raise ValueError(f"unknown correction mode {mode!r}; choose one of {CORRECTION_MODES}")
    todo = accepted(corrections)
    if todo.empty or events.empty:
        return events
    todo = todo.loc[todo["record_id"].isin(events["event_id"])]
    if todo.empty:
        return events
    hit = events["event_id"].isin(todo["record_id"]).to_numpy()
    originals = events.loc[hit].set_index("event_id", drop=False)
    versions: list[dict[str, object]] = []
    for event_id, chain in todo.groupby("record_id", sort=False):
        current: dict[str, object] | None = originals.loc[event_id].to_dict()
        for c in chain.itertuples(index=False):
            assert current is not None
            decided = pd.Timestamp(c.decided_date)
            if mode == "from_decided_date":
                versions.append({**current, RETRACTED: decided})
            if c.action == "void":
                current = None
                break
            current = {**current, c.field: amended_value(str(c.field), str(c.new_value))}
            if mode == "from_decided_date":
                recorded = pd.Timestamp(current["recorded_date"])
                current["recorded_date"] = max(recorded, decided)
        if current is not None:
            last = {**current, RETRACTED: pd.NaT} if mode == "from_decided_date" else current
            versions.append(last)
    kept = events.loc[~hit]
    if mode == "from_decided_date":
        kept = kept.assign(**{RETRACTED: pd.Series(pd.NaT, index=kept.index, dtype=DATE_DTYPE)})
    columns = list(kept.columns)
    added = pd.DataFrame(versions, columns=columns).astype(kept.dtypes.to_dict())
    return pd.concat([kept, added], ignore_index=True)


def corrected_records(corrections: pd.DataFrame | None, table: str = "events") -> int:
    """How many distinct records of ``table`` accepted corrections change."""
    return int(accepted(corrections, table)["record_id"].nunique())
