"""The contract's rules as vectorized checks over parsed raw tables.

Every rule has a stable id (``RULES``) used in reports, JSON and tests. Checks see tables
already parsed leniently (:class:`ParsedTable`): a cell that did not parse is null in the
typed frame and was reported once, by the type rule, when it was parsed. Each later check
looks only at cells that are valid for it, so one broken cell is reported by exactly one
rule instead of cascading (a malformed ``event_date`` is a ``date_type`` error, not also
a ``date_order`` one; an event whose person is unknown is a ``foreign_key`` error, not
also an ``event_attribution`` one).

Membership intervals are closed, end date inclusive, and the other readings of the contract
where its text is silent (extra columns, duplicate protected rows, null details, the date
range, whitespace, the extraction date, unattributed events) are listed once, in
:data:`features.contract.CLARIFICATIONS`; the checks below apply them.

Rule ids. Errors: ``file_missing``, ``file_unreadable``, ``column_missing``, ``table_empty``,
``date_type``, ``float_type``, ``not_null``, ``unique``, ``foreign_key``, ``date_order``,
``date_not_future``, ``vocabulary``, ``detail_vocabulary``, ``event_subject``,
``membership_overlap``, ``event_attribution``. Suspicious: ``extra_column``,
``unknown_event_type``, ``backdated_record`` (recorded more than
``contract.BACKDATED_SUSPICIOUS_DAYS`` days after it happened), ``family_without_members``,
``person_without_membership``, ``unattributed_event``, ``negative_value``. The optional
corrections table's own (errors, :mod:`features.validation.corrections`):
``correction_record``, ``correction_family``, ``correction_before_record``,
``correction_field``, ``correction_value_type``, ``correction_decision``,
``correction_open_twice``, ``correction_after_void``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import (
    BACKDATED_SUSPICIOUS_DAYS,
    DATE_ORDERS,
    EVENT_TYPES,
    FOREIGN_KEYS,
    UNIQUE_KEYS,
    VALUED_EVENT_TYPES,
    VOCABULARIES,
)
from features.validation.kernels import CoverIndex, KeyIndex, day_numbers, duplicated, isin
from features.validation.report import RuleViolation
from features.validation.rulebook import NON_EMPTY_TABLES, PROTECTED_PAIR, RULES, Rule, type_counts

# The key column of tables that have one; examples of offending rows name it.
TABLE_KEYS: dict[str, str] = {t: k[0] for t, k in UNIQUE_KEYS.items() if len(k) == 1}
# Columns that identify a row of a keyless table in examples.
ROW_LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "memberships": ("person_id", "family_id"),
    "outcomes": ("family_id", "outcome_type"),
    "protected": UNIQUE_KEYS["protected"],
}


@dataclass
class ParsedTable:
    """One raw table after lenient parsing.

    ``frame`` has the contract's columns that were present, typed as in memory (ids and
    strings ``str``, dates ``datetime64[ns]``, floats float64); a cell that was empty or
    did not parse is null. ``empty`` marks cells that were empty in the input and
    ``malformed`` cells that were present but did not parse, per column.
    """

    name: str
    frame: pd.DataFrame
    empty: dict[str, np.ndarray] = field(default_factory=dict)
    malformed: dict[str, np.ndarray] = field(default_factory=dict)
    # rows before this frame's first row in the whole table (a streamed slice of it)
    offset: int = 0

    def __len__(self) -> int:
        return len(self.frame)

    def has(self, *columns: str) -> bool:
        """Whether every column is present (a missing column was reported once already)."""
        return all(c in self.frame.columns for c in columns)

    def valid(self, column: str) -> np.ndarray:
        """Rows where ``column`` holds a parsed, non-null value."""
        return ~(self.empty[column] | self.malformed[column])

    def usable(self, column: str) -> np.ndarray:
        """Rows where a nullable ``column`` parsed (null allowed, malformed not)."""
        return ~self.malformed[column]

    def example(self, position: int) -> str:
        """How a report names the row at ``position`` (0-based): its key, or row and ids."""
        key = TABLE_KEYS.get(self.name)
        if key is not None and key in self.frame.columns:
            value = self.frame[key].iat[position]
            if not pd.isna(value):
                return str(value)
        labels = [
            f"{c}={self.frame[c].iat[position]}"
            for c in ROW_LABEL_COLUMNS.get(self.name, ())
            if c in self.frame.columns and not pd.isna(self.frame[c].iat[position])
        ]
        row = f"row {self.offset + position + 1}"
        return f"{row} ({', '.join(labels)})" if labels else row


ValueFormatter = Callable[[np.ndarray], Sequence[str]]


class Findings:
    """Collects violations; turns a row mask into a count and a few example keys."""

    def __init__(self, *, max_examples: int = 5) -> None:
        self.max_examples = max_examples
        self.errors: list[RuleViolation] = []
        self.suspicious: list[RuleViolation] = []

    def add_table_level(
        self, rule: str, table: str, column: str | None, fields: Mapping[str, object]
    ) -> None:
        """A violation about a whole file or column (count 1, no row examples); its
        description is the rule's template (:mod:`features.validation.rulebook`) filled
        with ``fields`` (``table`` and ``column`` are given)."""
        description = RULES[rule].describe(table=table, column=column, **fields)
        self._append(RuleViolation(table, column, rule, description, 1, (), RULES[rule].severity))

    def add(
        self,
        rule: str,
        table: ParsedTable,
        column: str | None,
        mask: np.ndarray | pd.Series,
        *,
        fields: Mapping[str, object] | None = None,
        variant: str | None = None,
        values: pd.Series | ValueFormatter | None = None,
        example_mask: np.ndarray | None = None,
    ) -> int:
        """Record the rows where ``mask`` is true (nothing when none); return their count.

        The description is the rule's template (or its ``variant``) filled with
        ``fields``, the table's name and ``column``: an engine never words a finding
        itself (:mod:`features.validation.rulebook`).

        ``values`` adds the offending value to each example: a Series aligned with the
        table's rows, or a function from row positions to texts. ``example_mask`` (a
        subset of ``mask``) picks the rows shown, e.g. one row per duplicated key.
        """
        mask = np.asarray(mask, dtype=bool)
        count = int(mask.sum())
        if count == 0:
            return 0
        shown_rows = mask if example_mask is None else np.asarray(example_mask, dtype=bool)
        positions = np.flatnonzero(shown_rows)[: self.max_examples]
        examples = [table.example(int(p)) for p in positions]
        if values is not None:
            if isinstance(values, pd.Series):
                shown = [repr(_plain(v)) for v in values.iloc[positions]]
            else:
                shown = list(values(positions))
            examples = [f"{e}: {s}" for e, s in zip(examples, shown, strict=True)]
        description = RULES[rule].describe(
            variant, table=table.name, column=column, **(fields or {})
        )
        violation = RuleViolation(
            table.name, column, rule, description, count, tuple(examples), RULES[rule].severity
        )
        self._append(violation)
        return count

    def _append(self, violation: RuleViolation) -> None:
        target = self.errors if violation.severity == "error" else self.suspicious
        target.append(violation)


def _plain(value: object) -> object:
    """A cell as a plain Python value for examples (dates as ISO text)."""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if pd.isna(value):
        return None
    return value


def _iso(series: pd.Series, positions: np.ndarray) -> list[str]:
    return [
        "null" if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d")
        for v in series.iloc[positions]
    ]


@dataclass(frozen=True)
class Intervals:
    """Memberships fit for date arithmetic, as integer arrays (one entry per kept row).

    ``person``/``family`` are codes (positions among the persons'/families' ids),
    ``start``/``end`` day numbers (``end`` -1 when open), ``rows`` the memberships' rows.
    ``covers`` keeps each look-up's sorted intervals (:meth:`cover`), shared by the slices
    of a streamed table.
    """

    rows: np.ndarray
    person: np.ndarray
    family: np.ndarray
    start: np.ndarray
    end: np.ndarray
    n_families: int
    covers: dict[str, CoverIndex] = field(default_factory=dict, compare=False, repr=False)

    def cover(self, name: str, keys: Callable[[], np.ndarray]) -> CoverIndex:
        """The intervals keyed by ``keys()`` sorted for look-ups, built once per ``name``."""
        index = self.covers.get(name)
        if index is None:
            index = CoverIndex(keys(), self.start, self.end)
            self.covers[name] = index
        return index


class RuleContext:
    """The parsed tables plus facts several checks share (computed once, lazily).

    ``tables`` are the tables whose rows the checks report on; ``parents`` (default: the
    same) the full tables that foreign keys and orphan checks look up. They differ when the
    validator streams a large table (:mod:`features.validation.stream`): the checks then
    run once on the small tables and once per slice of the large one, each time with the
    others' rows as zero-row stand-ins and the full small tables as parents; ``intervals``
    and ``parent_keys`` carry what the first pass computed into the slices' passes, and
    ``unique_elsewhere`` names tables whose unique key is checked across slices instead.
    """

    def __init__(
        self,
        tables: dict[str, ParsedTable],
        findings: Findings,
        *,
        parents: dict[str, ParsedTable] | None = None,
        parent_keys: dict[str, KeyIndex] | None = None,
        intervals: Intervals | None = None,
        unique_elsewhere: frozenset[str] = frozenset(),
    ) -> None:
        self.tables = tables
        self.parents = tables if parents is None else parents
        self.findings = findings
        self.extraction_date: pd.Timestamp | None = None
        # (table, column) -> position of each row's id among its parent's ids, -1 if absent
        self.parent_codes: dict[tuple[str, str], np.ndarray] = {}
        self.parent_sizes: dict[str, int] = {}
        self.parent_keys: dict[str, KeyIndex] = {} if parent_keys is None else parent_keys
        self.order_valid: dict[str, np.ndarray] = {}
        self.unique_elsewhere = unique_elsewhere
        # unknown event types seen, with their counts (the finding's description lists them)
        self.unknown_event_types: pd.Series | None = None
        self._intervals: Intervals | None = intervals
        self._event_days: np.ndarray | None = None

    def event_days(self) -> np.ndarray:
        """Day numbers of events.event_date (computed once; shared by two checks)."""
        if self._event_days is None:
            self._event_days = day_numbers(self.tables["events"].frame["event_date"])
        return self._event_days

    def table(self, name: str, *columns: str) -> ParsedTable | None:
        """The parsed table when it and all ``columns`` are present, else None."""
        parsed = self.tables.get(name)
        if parsed is None or not parsed.has(*columns):
            return None
        return parsed

    def parent(self, name: str, *columns: str) -> ParsedTable | None:
        """The full parent table when it and all ``columns`` are present, else None."""
        parsed = self.parents.get(name)
        if parsed is None or not parsed.has(*columns):
            return None
        return parsed

    def fk_ok(self, table: str, column: str) -> np.ndarray:
        """Rows whose ``column`` is set and found in its parent (all False if unknowable)."""
        found = self.parent_codes.get((table, column))
        if found is None:
            return np.zeros(len(self.tables[table]), dtype=bool)
        return found >= 0

    def membership_intervals(self) -> Intervals | None:
        """Memberships fit for date arithmetic: ids known, dates parsed and in order."""
        if self._intervals is not None:
            return self._intervals
        memberships = self.table("memberships", "person_id", "family_id", "start_date", "end_date")
        if memberships is None or ("memberships", "family_id") not in self.parent_codes:
            return None
        if ("memberships", "person_id") not in self.parent_codes:
            return None
        keep = (
            self.fk_ok("memberships", "person_id")
            & self.fk_ok("memberships", "family_id")
            & memberships.valid("start_date")
            & memberships.usable("end_date")
            & self.order_valid.get("memberships", np.ones(len(memberships), dtype=bool))
        )
        rows = np.flatnonzero(keep)
        frame = memberships.frame.iloc[rows]
        end = np.full(len(rows), -1, dtype=np.int64)
        has_end = frame["end_date"].notna().to_numpy()
        end[has_end] = day_numbers(frame["end_date"][has_end])
        self._intervals = Intervals(
            rows=rows,
            person=self.parent_codes[("memberships", "person_id")][rows],
            family=self.parent_codes[("memberships", "family_id")][rows],
            start=day_numbers(frame["start_date"]),
            end=end,
            n_families=self.parent_sizes.get("families", 0),
        )
        return self._intervals


# --------------------------------------------------------------------------------------
# Checks. Each takes the context and records findings; CHECKS lists them in report order.


class TableLevelFindings(Protocol):
    """What the empty-table rule records into (every engine's findings have it)."""

    def add_table_level(
        self, rule: str, table: str, column: str | None, fields: Mapping[str, object]
    ) -> None: ...


def report_empty_tables(findings: TableLevelFindings, rows: Mapping[str, int | None]) -> None:
    """``table_empty`` for each table of :data:`NON_EMPTY_TABLES` read with 0 rows (a
    missing or unreadable table has its own finding; its count is None). The one rendering
    of the rule's message, for the pandas, streamed and Spark engines alike."""
    for name, why in NON_EMPTY_TABLES.items():
        if rows.get(name) == 0:
            findings.add_table_level("table_empty", name, None, {"why": why})


def check_not_empty(ctx: RuleContext) -> None:
    report_empty_tables(ctx.findings, {name: len(table) for name, table in ctx.tables.items()})


# --------------------------------------------------------------------------------------


def check_unique_keys(ctx: RuleContext) -> None:
    """The contract's unique keys (``contract.UNIQUE_KEYS``) hold."""
    for name, key in TABLE_KEYS.items():
        table = ctx.table(name, key)
        if table is None:
            continue
        if name in ctx.unique_elsewhere:  # checked across the slices of a streamed table
            mask = first = np.zeros(len(table), dtype=bool)
        else:
            mask, first = duplicated(table.frame[key])
        ctx.findings.add("unique", table, key, mask, example_mask=first)
    pair = UNIQUE_KEYS["protected"]
    protected = ctx.table("protected", *pair)
    if protected is not None:
        both = protected.valid(pair[0]) & protected.valid(pair[1])
        dup = protected.frame.duplicated(list(pair), keep=False).to_numpy()
        ctx.findings.add(
            "unique",
            protected,
            "+".join(pair),
            dup & both,
            variant=PROTECTED_PAIR,
            values=protected.frame["value"] if protected.has("value") else None,
        )


def check_foreign_keys(ctx: RuleContext) -> None:
    """Every reference names an existing family or person."""
    for child_name, column, parent_name, parent_key in FOREIGN_KEYS:
        child = ctx.table(child_name, column)
        parent = ctx.parent(parent_name, parent_key)
        if child is None:
            continue
        if parent is None:
            continue  # the parent's missing file/column is already an error
        keys = ctx.parent_keys.get(parent_name)
        if keys is None:  # built once, then shared by every slice of a streamed table
            ids = pa.array(parent.frame[parent_key].dropna().unique(), type=pa.large_string())
            keys = KeyIndex(ids)
            ctx.parent_keys[parent_name] = keys
        ctx.parent_sizes[parent_name] = len(keys)
        positions = keys.codes(child.frame[column])
        ctx.parent_codes[(child_name, column)] = positions
        ctx.findings.add(
            "foreign_key",
            child,
            column,
            child.valid(column) & (positions < 0),
            fields={"parent": parent_name, "parent_key": parent_key},
            values=child.frame[column],
        )


def check_date_order(ctx: RuleContext) -> None:
    """recorded_date >= event_date / outcome_date; end_date >= start_date."""
    for name, earlier, later in DATE_ORDERS:
        table = ctx.table(name, earlier, later)
        if table is None:
            continue
        first, second = table.frame[earlier], table.frame[later]
        bad = (first.notna() & second.notna() & (second < first)).to_numpy()
        ctx.order_valid[name] = ~bad
        ctx.findings.add(
            "date_order",
            table,
            later,
            bad,
            fields={"earlier": earlier},
            values=_order_examples(first, second, earlier, later),
        )


def _order_examples(
    first: pd.Series, second: pd.Series, earlier: str, later: str
) -> ValueFormatter:
    """Examples of a date-order violation: ``later <date> < earlier <date>``."""

    def describe(pos: np.ndarray) -> list[str]:
        return [
            RULES["date_order"].show(column=later, later_date=b, earlier=earlier, earlier_date=a)
            for a, b in zip(_iso(first, pos), _iso(second, pos), strict=True)
        ]

    return describe


def compute_extraction_date(ctx: RuleContext) -> None:
    """The data's extraction date: the latest recorded_date of events and outcomes."""
    latest = [
        table.frame["recorded_date"].max()
        for name in ("events", "outcomes")
        if (table := ctx.table(name, "recorded_date")) is not None and len(table)
    ]
    latest = [d for d in latest if not pd.isna(d)]
    ctx.extraction_date = max(latest) if latest else None


def check_birth_not_future(ctx: RuleContext) -> None:
    """persons.birth_date is not after the extraction date."""
    persons = ctx.table("persons", "birth_date")
    if persons is None or ctx.extraction_date is None:
        return
    births = persons.frame["birth_date"]
    ctx.findings.add(
        "date_not_future",
        persons,
        "birth_date",
        (births > ctx.extraction_date).to_numpy(),
        fields={"extraction": ctx.extraction_date},
        values=births,
    )


def check_vocabularies(ctx: RuleContext) -> None:
    """settlement, sex, role and outcome_type take only the contract's values."""
    for (name, column), allowed in VOCABULARIES.items():
        table = ctx.table(name, column)
        if table is None:
            continue
        values = table.frame[column]
        bad = table.valid(column) & ~isin(values, allowed)
        ctx.findings.add(
            "vocabulary",
            table,
            column,
            bad,
            fields={"allowed": tuple(allowed)},
            values=values,
        )


def check_detail_vocabulary(ctx: RuleContext) -> None:
    """A non-null detail of benefit_payment, police_contact, housing_inspection is in its list."""
    events = ctx.table("events", "event_type", "detail")
    if events is None:
        return
    types, details = events.frame["event_type"], events.frame["detail"]
    bad = np.zeros(len(events), dtype=bool)
    for event_type in EVENT_TYPES.values():
        if event_type.details is None:
            continue
        of_type = (types == event_type.name).to_numpy(dtype=bool, na_value=False)
        bad |= of_type & details.notna().to_numpy() & ~isin(details, event_type.details)
    ctx.findings.add(
        "detail_vocabulary",
        events,
        "detail",
        bad,
        values=lambda pos: [
            RULES["detail_vocabulary"].show(event_type=t, detail=d)
            for t, d in zip(types.iloc[pos], details.iloc[pos], strict=True)
        ],
    )


def check_event_subject(ctx: RuleContext) -> None:
    """An event names a family, a person or both."""
    events = ctx.table("events", "family_id", "person_id")
    if events is None:
        return
    neither = events.empty["family_id"] & events.empty["person_id"]
    ctx.findings.add(
        "event_subject",
        events,
        "family_id+person_id",
        neither,
    )


def check_membership_overlap(ctx: RuleContext) -> None:
    """One person's membership intervals do not overlap (closed [start_date, end_date])."""
    intervals = ctx.membership_intervals()
    if intervals is None or len(intervals.rows) == 0:
        return
    memberships = ctx.tables["memberships"]
    if memberships is not ctx.parents.get("memberships"):  # a stand-in: checked elsewhere
        return
    order = np.lexsort((intervals.start, intervals.person))
    person = intervals.person[order]
    start = intervals.start[order]
    end = np.where(intervals.end[order] < 0, np.iinfo(np.int64).max, intervals.end[order])
    running_end = pd.Series(end).groupby(person, sort=False).cummax().to_numpy()
    overlap = np.zeros(len(order), dtype=bool)
    overlap[1:] = (person[1:] == person[:-1]) & (start[1:] <= running_end[:-1])
    mask = np.zeros(len(memberships), dtype=bool)
    mask[intervals.rows[order[overlap]]] = True
    ctx.findings.add(
        "membership_overlap",
        memberships,
        "start_date",
        mask,
        values=lambda pos: _iso(memberships.frame["start_date"], pos),
    )


def _not_member_on_date(
    ctx: RuleContext,
    selected: np.ndarray,
    event_keys: np.ndarray,
    cover: CoverIndex,
    n_rows: int,
) -> np.ndarray:
    """Mask (over all ``n_rows`` events) of the ``selected`` events whose key no membership
    with the same key covers on the event's day.

    Keys are integer codes built from the foreign-key look-ups (no second pass over the
    ids); ``cover`` (:class:`features.validation.kernels.CoverIndex`) has the memberships
    sorted once and binary-searches each event, with no sort of the events.
    """
    days = ctx.event_days()[selected]
    covered = cover.covered(event_keys, days)
    mask = np.zeros(n_rows, dtype=bool)
    mask[np.flatnonzero(selected)[~covered]] = True
    return mask


def check_event_attribution(ctx: RuleContext) -> None:
    """When an event names both a family and a person, the person belongs to it that day."""
    events = ctx.table("events", "family_id", "person_id", "event_date")
    intervals = ctx.membership_intervals()
    if events is None or intervals is None:
        return
    both = (
        ctx.fk_ok("events", "family_id")
        & ctx.fk_ok("events", "person_id")
        & events.valid("event_date")
    )
    width = max(intervals.n_families, 1)
    person = ctx.parent_codes[("events", "person_id")][both].astype(np.int64)
    family = ctx.parent_codes[("events", "family_id")][both].astype(np.int64)
    cover = intervals.cover(
        "person+family", lambda: intervals.person.astype(np.int64) * width + intervals.family
    )
    mask = _not_member_on_date(ctx, both, person * width + family, cover, len(events))
    frame = events.frame
    ctx.findings.add(
        "event_attribution",
        events,
        "family_id+person_id",
        mask,
        values=lambda pos: [
            RULES["event_attribution"].show(person_id=p, family_id=f, event_date=d)
            for p, f, d in zip(
                frame["person_id"].iloc[pos],
                frame["family_id"].iloc[pos],
                _iso(frame["event_date"], pos),
                strict=True,
            )
        ],
    )


def check_unknown_event_types(ctx: RuleContext) -> None:
    """Suspicious: event types outside the vocabulary (kept; features ignore them)."""
    events = ctx.table("events", "event_type")
    if events is None:
        return
    types = events.frame["event_type"]
    unknown = events.valid("event_type") & ~isin(types, list(EVENT_TYPES))
    if not unknown.any():
        return
    ctx.unknown_event_types = types[unknown].value_counts()
    ctx.findings.add(
        "unknown_event_type",
        events,
        "event_type",
        unknown,
        fields={"listing": unknown_types_listing(ctx.unknown_event_types)},
        values=types,
    )


def unknown_types_listing(counts: pd.Series) -> str:
    """The ``listing`` field of an ``unknown_event_type`` finding (``counts`` by type, most
    frequent first)."""
    return type_counts(counts.items())


def check_backdated(ctx: RuleContext) -> None:
    """Suspicious: recorded more than BACKDATED_SUSPICIOUS_DAYS days after it happened."""
    limit = pd.Timedelta(days=BACKDATED_SUSPICIOUS_DAYS)
    for name, happened in (("events", "event_date"), ("outcomes", "outcome_date")):
        table = ctx.table(name, happened, "recorded_date")
        if table is None:
            continue
        first, second = table.frame[happened], table.frame["recorded_date"]
        lag = second - first
        ctx.findings.add(
            "backdated_record",
            table,
            "recorded_date",
            (lag > limit).to_numpy(),
            fields={"happened": happened},
            values=_lag_examples(lag),
        )


def _lag_examples(lag: pd.Series) -> ValueFormatter:
    """Examples of a back-dated record: how many days late it was recorded."""

    def describe(pos: np.ndarray) -> list[str]:
        return [RULES["backdated_record"].show(days=d.days) for d in lag.iloc[pos]]

    return describe


def check_orphans(ctx: RuleContext) -> None:
    """Suspicious: families without any membership, persons without any membership."""
    memberships = ctx.parent("memberships", "person_id", "family_id")
    if memberships is None:
        return
    for name, key in (("families", "family_id"), ("persons", "person_id")):
        table = ctx.table(name, key)
        if table is None:
            continue
        if len(table) == 0:  # nothing to look up (a streamed table's stand-in)
            lonely = np.zeros(0, dtype=bool)
        else:
            members = memberships.frame[key].dropna().unique()
            lonely = table.valid(key) & ~isin(table.frame[key], members)
        rule = "family_without_members" if name == "families" else "person_without_membership"
        ctx.findings.add(
            rule,
            table,
            key,
            lonely,
        )


def check_unattributed_events(ctx: RuleContext) -> None:
    """Suspicious: a person-only event whose person belongs to no family on event_date."""
    events = ctx.table("events", "family_id", "person_id", "event_date")
    intervals = ctx.membership_intervals()
    if events is None or intervals is None:
        return
    person_only = (
        events.empty["family_id"] & ctx.fk_ok("events", "person_id") & events.valid("event_date")
    )
    mask = _not_member_on_date(
        ctx,
        person_only,
        ctx.parent_codes[("events", "person_id")][person_only],
        intervals.cover("person", lambda: intervals.person),
        len(events),
    )
    ctx.findings.add(
        "unattributed_event",
        events,
        "person_id",
        mask,
        values=events.frame["person_id"],
    )


def check_negative_values(ctx: RuleContext) -> None:
    """Suspicious: negative amounts, counts or ratios."""
    events = ctx.table("events", "event_type", "value")
    if events is None:
        return
    types, values = events.frame["event_type"], events.frame["value"]
    bad = isin(types, VALUED_EVENT_TYPES) & (values < 0).to_numpy()
    ctx.findings.add(
        "negative_value",
        events,
        "value",
        bad,
        values=values,
    )


CHECKS: tuple[tuple[str, Callable[[RuleContext], None]], ...] = (
    ("empty tables", check_not_empty),
    ("unique keys", check_unique_keys),
    ("foreign keys", check_foreign_keys),
    ("date order", check_date_order),
    ("extraction date", compute_extraction_date),
    ("birth dates", check_birth_not_future),
    ("vocabularies", check_vocabularies),
    ("event details", check_detail_vocabulary),
    ("event subjects", check_event_subject),
    ("membership overlaps", check_membership_overlap),
    ("event attribution", check_event_attribution),
    ("unknown event types", check_unknown_event_types),
    ("back-dated records", check_backdated),
    ("orphan families/persons", check_orphans),
    ("unattributed events", check_unattributed_events),
    ("negative values", check_negative_values),
)

__all__ = [
    "CHECKS",
    "NON_EMPTY_TABLES",
    "RULES",
    "Findings",
    "ParsedTable",
    "Rule",
    "RuleContext",
    "report_empty_tables",
    "unknown_types_listing",
]
