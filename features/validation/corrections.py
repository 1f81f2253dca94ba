"""The corrections table's rules: a correction names a real record and a value that fits.

A correction changes what the model sees of a family, so a broken one must be refused as
loudly as a broken record: the validator reports every rule below with the table, the
column, the count and the corrections' ids (the rules' words are in the rulebook,
:mod:`features.validation.rulebook`, like every other rule). The table is optional
(:mod:`features.corrections`); when a raw directory has none, nothing here runs and the
report is the six tables' alone.

Both engines give the same findings: the checks below are pure functions of the parsed
corrections, the families they name and the contested records; an engine only finds those
few rows in its own way (pandas reads them with an Arrow filter, Spark joins the events
against the corrections' ids, :mod:`features.spark.corrections`). A corrections table is
people's decisions (thousands, not millions of rows), so it is held whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as ds

from features.contract import (
    CORRECTABLE,
    CORRECTION_ACTIONS,
    CORRECTION_COLUMNS,
    CORRECTION_STATUSES,
    CORRECTIONS_TABLE,
    EVENT_TYPES,
)
from features.corrections import (
    CorrectionMode,
    accepted,
    corrections_path,
    empty_corrections,
    typed_corrections,
)
from features.raw import table_path
from features.validation.parse import parse_column
from features.validation.report import (
    InvalidRawDataError,
    RuleViolation,
    TableInfo,
    ValidationReport,
)
from features.validation.rules import Findings, ParsedTable

#: The feature table's attribute (and a model card's source) saying which corrections
#: shaped it and how (:func:`correction_summary`).
META_CORRECTIONS = "earlyrisk.corrections"
#: The columns of a contested record the rules read.
RECORD_COLUMNS = ("event_id", "family_id", "event_type", "recorded_date")


class _Corrections(ParsedTable):
    """The parsed corrections table; its rows are named by their correction_id."""

    def example(self, position: int) -> str:
        value = self.frame["correction_id"].iat[position]
        return f"row {self.offset + position + 1}" if pd.isna(value) else str(value)


# --------------------------------------------------------------------------- reading


def parse_corrections(frame: pd.DataFrame, findings: Findings) -> _Corrections:
    """Parse each column leniently (a malformed date is one ``date_type`` finding) and
    report missing columns and empty required cells, as the other tables are."""
    typed: dict[str, pd.Series] = {}
    empty: dict[str, np.ndarray] = {}
    malformed: dict[str, np.ndarray] = {}
    frame = frame.reset_index(drop=True)
    for column in CORRECTION_COLUMNS:
        if column.name not in frame.columns:
            findings.add_table_level(
                "column_missing",
                CORRECTIONS_TABLE,
                column.name,
                {"kind": f"{column.kind}{', nullable' if column.nullable else ''}"},
            )
            typed[column.name] = pd.Series([None] * len(frame), dtype=object)
            empty[column.name] = np.ones(len(frame), dtype=bool)
            malformed[column.name] = np.zeros(len(frame), dtype=bool)
            continue
        values, empty[column.name], malformed[column.name] = parse_column(
            column, frame[column.name]
        )
        typed[column.name] = values
    parsed = _Corrections(CORRECTIONS_TABLE, pd.DataFrame(typed), empty, malformed)
    for column in CORRECTION_COLUMNS:
        if column.name not in frame.columns:
            continue
        if malformed[column.name].any():
            findings.add(
                "date_type",
                parsed,
                column.name,
                malformed[column.name],
                values=frame[column.name],
            )
        if not column.nullable:
            findings.add("not_null", parsed, column.name, empty[column.name])
    return parsed


def read_events_of(raw_dir: Path, event_ids: Iterable[str]) -> pd.DataFrame:
    """The contested events (:data:`RECORD_COLUMNS`) of ``raw_dir``, read with an Arrow
    filter: the events table is the registry's largest, the ids a handful."""
    wanted = pa.array(sorted({str(i) for i in event_ids}), type=pa.string())
    try:
        path = table_path(raw_dir, "events")
    except FileNotFoundError:  # its own finding (file_missing)
        return _no_records()
    try:
        if path.suffix == ".parquet":
            dataset = ds.dataset(str(path), format="parquet")
            names = set(dataset.schema.names)
            if not set(RECORD_COLUMNS) <= names:
                return _no_records()
            table = dataset.to_table(
                columns=list(RECORD_COLUMNS),
                filter=pc.field("event_id").cast(pa.string()).isin(wanted),
            )
        else:
            table = pcsv.read_csv(
                path,
                convert_options=pcsv.ConvertOptions(
                    include_columns=list(RECORD_COLUMNS),
                    column_types={c: pa.string() for c in RECORD_COLUMNS},
                    strings_can_be_null=True,
                ),
            )
            table = table.filter(pc.is_in(table.column("event_id"), value_set=wanted))
    except (OSError, ValueError, pa.ArrowException):  # its own finding (file_unreadable)
        return _no_records()
    return records_frame(table.to_pandas())


def _no_records() -> pd.DataFrame:
    return records_frame(pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS}))


def records_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Contested records as the checks read them: ids as text, recorded_date a date (NaT
    where it does not parse: that is the events table's own finding)."""
    out = pd.DataFrame(
        {c: frame[c].astype(object).where(frame[c].notna(), None) for c in RECORD_COLUMNS[:3]}
    )
    out = out.assign(**{c: out[c].map(lambda v: None if v is None else str(v)) for c in out})
    out["recorded_date"] = pd.to_datetime(
        frame["recorded_date"], errors="coerce", format="ISO8601"
    ).astype("datetime64[ns]")
    return out.drop_duplicates("event_id").reset_index(drop=True)


def read_family_ids(raw_dir: Path, wanted: Iterable[str]) -> set[str]:
    """Which of ``wanted`` are families of ``raw_dir`` (empty when families cannot be read:
    that is its own finding)."""
    try:
        frame = read_table_file_columns(table_path(raw_dir, "families"), ["family_id"])
    except (FileNotFoundError, OSError, ValueError, pa.ArrowException, KeyError):
        return set()
    ids = set(frame["family_id"].dropna().astype(str))
    return {str(w) for w in wanted if str(w) in ids}


def read_table_file_columns(path: Path, columns: list[str] | None) -> pd.DataFrame:
    """Columns of one stored table as they are (CSV cells as text), all when None."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(
        path, dtype=str, keep_default_na=False, na_values=[""], usecols=columns, encoding="utf-8"
    )


# --------------------------------------------------------------------------- the rules


def check_corrections(
    parsed: _Corrections,
    *,
    families: set[str],
    records: pd.DataFrame,
    findings: Findings,
) -> None:
    """Every rule of the corrections table, in report order. ``families``: the family ids
    of the registry that the corrections name; ``records``: the contested events found
    (:data:`RECORD_COLUMNS`)."""
    frame = parsed.frame
    n = len(frame)

    def valid(column: str) -> np.ndarray:
        return parsed.valid(column)

    def text(column: str) -> pd.Series:
        return frame[column].astype(object)

    ids = text("correction_id")
    dup = ids.duplicated(keep=False).to_numpy() & valid("correction_id")
    first = ~ids.duplicated(keep="first").to_numpy() & dup
    findings.add("unique", parsed, "correction_id", dup, example_mask=first)

    for column, allowed in (
        ("record_table", tuple(CORRECTABLE)),
        ("action", CORRECTION_ACTIONS),
        ("status", CORRECTION_STATUSES),
    ):
        bad = valid(column) & ~text(column).isin(allowed).to_numpy()
        findings.add(
            "vocabulary", parsed, column, bad, fields={"allowed": allowed}, values=frame[column]
        )

    family_bad = valid("family_id") & ~text("family_id").isin(families).to_numpy()
    findings.add(
        "foreign_key",
        parsed,
        "family_id",
        family_bad,
        fields={"parent": "families", "parent_key": "family_id"},
        values=frame["family_id"],
    )

    requested, decided = frame["requested_date"], frame["decided_date"]
    order_bad = (requested.notna() & decided.notna() & (decided < requested)).to_numpy()
    findings.add(
        "date_order",
        parsed,
        "decided_date",
        order_bad,
        fields={"earlier": "requested_date"},
        values=lambda pos: [
            f"decided_date {d:%Y-%m-%d} < requested_date {r:%Y-%m-%d}"
            for d, r in zip(decided.iloc[pos], requested.iloc[pos], strict=True)
        ],
    )

    # the contested record
    is_events = (text("record_table") == "events").to_numpy() & valid("record_id")
    found = records.set_index("event_id")
    record_ids = text("record_id")
    known = record_ids.isin(found.index).to_numpy()
    findings.add(
        "correction_record",
        parsed,
        "record_id",
        is_events & ~known,
        fields={"record_table": "events", "key": "event_id"},
        values=frame["record_id"],
    )
    look = is_events & known
    at = found.index.get_indexer(record_ids.where(look, None))  # -1: not looked up
    hit = at >= 0

    def of_record(column: str) -> pd.Series:
        values = found[column].to_numpy()
        if column == "recorded_date":
            out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
        else:
            out = pd.Series(None, index=frame.index, dtype=object)
        out[hit] = values[at[hit]]
        return out

    rec_family, rec_recorded, rec_type = (
        of_record("family_id"),
        of_record("recorded_date"),
        of_record("event_type"),
    )
    other_family = (
        look
        & valid("family_id")
        & rec_family.notna().to_numpy()
        & (rec_family.astype(object) != text("family_id")).to_numpy()
    )
    findings.add(
        "correction_family",
        parsed,
        "family_id",
        other_family,
        values=lambda pos: [
            f"{f} (the record is {r}'s)"
            for f, r in zip(frame["family_id"].iloc[pos], rec_family.iloc[pos], strict=True)
        ],
    )
    early = look & decided.notna().to_numpy() & (decided < rec_recorded).to_numpy(dtype=bool)
    findings.add(
        "correction_before_record",
        parsed,
        "decided_date",
        early,
        values=lambda pos: [
            f"decided {d:%Y-%m-%d}, recorded {r:%Y-%m-%d}"
            for d, r in zip(decided.iloc[pos], rec_recorded.iloc[pos], strict=True)
        ],
    )

    # what an amend changes and what a void leaves alone
    action, field, value = text("action"), text("field"), text("new_value")
    fields = CORRECTABLE["events"][1]
    is_amend = (action == "amend").to_numpy()
    is_void = (action == "void").to_numpy()
    has_field, has_value = valid("field"), valid("new_value")
    field_bad = (is_amend & (~has_field | ~has_value | ~field.isin(list(fields)).to_numpy())) | (
        is_void & (has_field | has_value)
    )
    findings.add(
        "correction_field",
        parsed,
        "field",
        field_bad,
        fields={"fields": tuple(fields)},
        values=lambda pos: [
            f"{a} field={f!r} new_value={v!r}"
            for a, f, v in zip(action.iloc[pos], field.iloc[pos], value.iloc[pos], strict=True)
        ],
    )
    typed_ok = is_amend & has_field & has_value & field.isin(list(fields)).to_numpy()
    wrong = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(typed_ok):
        problem = value_problem(
            str(field.iat[i]),
            str(value.iat[i]),
            event_type=rec_type.iat[i],
            recorded=rec_recorded.iat[i],
        )
        wrong[i] = problem is not None
    findings.add(
        "correction_value_type",
        parsed,
        "new_value",
        wrong,
        values=lambda pos: [
            f"{field.iat[p]} = {value.iat[p]!r}: "
            f"{value_problem(str(field.iat[p]), str(value.iat[p]), event_type=rec_type.iat[p], recorded=rec_recorded.iat[p])}"  # noqa: E501
            for p in pos
        ],
    )

    # the decision
    status = text("status")
    decided_status = status.isin(["accepted", "rejected"]).to_numpy()
    open_status = (status == "requested").to_numpy()
    has_date, has_by = valid("decided_date"), valid("decided_by")
    decision_bad = (decided_status & ~(has_date & has_by)) | (open_status & (has_date | has_by))
    findings.add(
        "correction_decision",
        parsed,
        "status",
        decision_bad,
        values=lambda pos: [
            f"{s}, decided_date={'set' if d else 'empty'}, decided_by={'set' if b else 'empty'}"
            for s, d, b in zip(status.iloc[pos], has_date[pos], has_by[pos], strict=True)
        ],
    )
    keys = text("record_table").astype(str) + "\x1f" + record_ids.astype(str)
    twice = open_status & keys.where(open_status).duplicated(keep=False).to_numpy() & open_status
    findings.add(
        "correction_open_twice",
        parsed,
        "record_id",
        twice,
        values=frame["record_id"],
    )
    findings.add(
        "correction_after_void",
        parsed,
        "record_id",
        _after_void(frame, keys),
        values=frame["record_id"],
    )


def value_problem(
    field: str, text: str, *, event_type: object = None, recorded: object = None
) -> str | None:
    """Why ``text`` cannot be the new value of events.``field`` (None: it can). The one
    wording of a wrong-typed amend, for the validator and the service's refusals alike."""
    kind = CORRECTABLE["events"][1].get(field)
    if kind is None:
        allowed = ", ".join(CORRECTABLE["events"][1])
        return f"{field!r} is not a field an amend may change ({allowed})"
    if kind == "float":
        try:
            number = float(text)
        except ValueError:
            return "not a number"
        if not np.isfinite(number):
            return "not a finite number"
        if number < 0:
            return "negative (the value is an amount, a count or a ratio)"
        return None
    if kind == "date":
        try:
            day = pd.to_datetime(text, format="%Y-%m-%d")
        except ValueError:
            return "not an ISO YYYY-MM-DD date"
        if recorded is not None and not pd.isna(recorded) and day > pd.Timestamp(recorded):
            return f"after the record's recorded_date {pd.Timestamp(recorded):%Y-%m-%d}"
        return None
    if event_type is not None and not pd.isna(event_type):
        spec = EVENT_TYPES.get(str(event_type))
        if spec is not None and spec.details is not None and text not in spec.details:
            return f"not a detail of {event_type} ({', '.join(spec.details)})"
    return None


def _after_void(frame: pd.DataFrame, keys: pd.Series) -> np.ndarray:
    """Accepted corrections decided after an accepted void of the same record."""
    out = np.zeros(len(frame), dtype=bool)
    acc = frame.assign(_key=keys).loc[frame["status"] == "accepted"]
    voids = acc.loc[acc["action"] == "void"].groupby("_key")["decided_date"].min()
    if voids.empty:
        return out
    void_day = acc["_key"].map(voids)
    later = void_day.notna() & (acc["decided_date"] > void_day)
    out[acc.index[later.to_numpy()].to_numpy()] = True
    return out


# --------------------------------------------------------------------------- reports


def correction_violations(
    frame: pd.DataFrame,
    *,
    families: set[str] | None = None,
    records: pd.DataFrame | None = None,
    max_examples: int = 5,
) -> list[RuleViolation]:
    """The findings of a corrections table (text or typed columns) against the families and
    contested records given (both default to none found)."""
    findings = Findings(max_examples=max_examples)
    parsed = parse_corrections(frame, findings)
    check_corrections(
        parsed,
        families=families or set(),
        records=records if records is not None else _no_records(),
        findings=findings,
    )
    return [*findings.errors, *findings.suspicious]


def with_findings(
    report: ValidationReport, violations: list[RuleViolation], info: TableInfo
) -> ValidationReport:
    """``report`` with the corrections table's findings and row count added."""
    return replace(
        report,
        errors=[*report.errors, *(v for v in violations if v.severity == "error")],
        suspicious=[*report.suspicious, *(v for v in violations if v.severity == "suspicious")],
        tables={**report.tables, CORRECTIONS_TABLE: info},
    )


def read_raw_corrections(raw_dir: Path) -> tuple[pd.DataFrame | None, TableInfo | None, str | None]:
    """(the corrections file as stored, its info, why it could not be read); (None, None,
    None) when the directory has no corrections."""
    path = corrections_path(raw_dir)
    if path is None:
        return None, None, None
    try:
        frame = read_table_file_columns(path, None)
    except (OSError, ValueError, pa.ArrowException) as error:
        return None, TableInfo(file=path.name, rows=None), str(error)
    return frame, TableInfo(file=path.name, rows=len(frame)), None


def corrections_to_check(
    report: ValidationReport, raw_dir: Path, *, max_examples: int
) -> tuple[pd.DataFrame, TableInfo] | ValidationReport:
    """Where both engines' corrections checks start: the table to check with its info, or
    the finished report when there is nothing to check (``report`` unchanged without a
    corrections table; with a ``file_unreadable`` error when it cannot be read)."""
    frame, info, error = read_raw_corrections(raw_dir)
    if info is None:
        return report
    if frame is None:
        findings = Findings(max_examples=max_examples)
        findings.add_table_level(
            "file_unreadable", CORRECTIONS_TABLE, None, {"file": info.file, "error": error}
        )
        return with_findings(report, findings.errors, info)
    return frame, info


def add_correction_findings(
    report: ValidationReport, raw_dir: Path | str, *, max_examples: int = 5
) -> ValidationReport:
    """The pandas engine's corrections check of ``raw_dir`` added to its report (the
    report unchanged when the directory has no corrections table)."""
    raw_dir = Path(raw_dir)
    read = corrections_to_check(report, raw_dir, max_examples=max_examples)
    if isinstance(read, ValidationReport):
        return read
    frame, info = read
    referenced = frame["record_id"].dropna() if "record_id" in frame.columns else []
    wanted = frame["family_id"].dropna() if "family_id" in frame.columns else []
    violations = correction_violations(
        frame,
        families=read_family_ids(raw_dir, wanted),
        records=read_events_of(raw_dir, referenced),
        max_examples=max_examples,
    )
    return with_findings(report, violations, info)


def load_corrections(raw_dir: Path | str) -> pd.DataFrame:
    """The validated corrections of ``raw_dir`` (an empty frame when it has none); raises
    :class:`~features.validation.InvalidRawDataError` naming every broken rule."""

    raw_dir = Path(raw_dir)
    frame, info, _ = read_raw_corrections(raw_dir)
    if info is None:
        return empty_corrections()
    empty = ValidationReport(errors=[], suspicious=[], tables={}, source=str(raw_dir))
    report = add_correction_findings(empty, raw_dir)
    if not report.ok:
        raise InvalidRawDataError(report)
    assert frame is not None
    return typed_corrections(frame)


def correction_summary(corrections: pd.DataFrame, mode: CorrectionMode) -> str:
    """What a feature table (and the model card) says of its corrections: the mode, how
    many accepted corrections and distinct records, and a fingerprint of them."""
    rows = accepted(corrections)
    digest = hashlib.sha256(rows.astype(str).to_csv(index=False).encode("utf-8")).hexdigest()
    return json.dumps(
        {
            "mode": mode,
            "accepted": len(rows),
            "records_corrected": int(rows["record_id"].nunique()),
            "voided": int((rows["action"] == "void").sum()),
            "amended": int((rows["action"] == "amend").sum()),
            "sha256": digest,
        },
        sort_keys=True,
    )
