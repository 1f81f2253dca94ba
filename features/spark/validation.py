"""The contract's rules on Spark: the same report as :mod:`features.validation`, at any size.

Every rule of :mod:`features.validation.rules` is restated as Spark column expressions and
joins (foreign keys, duplicates, overlaps and attribution are joins and windows, never a
table collected to the driver). The report is the pandas engine's
:class:`~features.validation.report.ValidationReport`: same rule ids, order, counts,
descriptions and example keys, so a test compares the two engines on the same data.

How the same examples come out: a report shows the first offending rows in stored order
(or their 1-based row number, for tables without a key). Each table's rows get their
position from ``monotonically_increasing_id`` (which grows with the file's order within a
read split) and the row counts of the splits before it; the driver only collects one
count per split. For a table stored as a directory of part files, "row N" counts in the
order Spark lists the files.

The same lenient parsing as the pandas engine: a cell that does not parse is one
``date_type``/``float_type`` finding and null afterwards, so it is not reported again by
a later rule. Dates are ISO ``yyyy-MM-dd`` between 1900-01-01 and 2100-12-31, floats
finite numbers, whitespace-only text empty.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.contract import (
    BACKDATED_SUSPICIOUS_DAYS,
    DATE_ORDERS,
    EVENT_TYPES,
    FOREIGN_KEYS,
    OPTIONAL_TABLES,
    TABLE_COLUMNS,
    TABLES,
    VALUED_EVENT_TYPES,
    VOCABULARIES,
    Column,
)
from features.spark.raw import BLANK_PATTERN, RawTableNotFoundError, locate_table, read_stored
from features.spark.session import session_conf, shuffle_partitions_for
from features.validation.report import RuleViolation, TableInfo, ValidationReport
from features.validation.rulebook import (
    PROTECTED_PAIR,
    RULES,
    UNKNOWN_TYPES_LISTED,
    column_kind,
    type_counts,
)
from features.validation.rules import ROW_LABEL_COLUMNS, TABLE_KEYS, report_empty_tables

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, Row, SparkSession

POS = "_pos"
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
OPEN_END = dt.date(9999, 12, 31)
_SPLIT_BITS = 33  # monotonically_increasing_id: split index in the upper 31 bits


def _raw(c: str) -> str:
    return f"_raw_{c}"


def _empty(c: str) -> str:
    return f"_empty_{c}"


def _bad(c: str) -> str:
    return f"_bad_{c}"


def _plain(value: Any) -> Any:
    """A cell as the pandas report shows it (dates as ISO text, NaN as None)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _iso(value: Any) -> str:
    return "null" if value is None else value.strftime("%Y-%m-%d")


RowFormatter = Callable[[Any], str]


@dataclass
class _Pending:
    """A finding to count (and show) once every mask column is in place."""

    rule: str
    table: _Table
    column: str | None
    mask: str  # name of a boolean column of the table's frame
    # the template's fields (features.validation.rulebook), or a function computing them
    # once the counts are in (table and column are given)
    fields: Mapping[str, object] | Callable[[], Mapping[str, object]] = field(default_factory=dict)
    variant: str | None = None
    shown: RowFormatter | None = None
    example_mask: str | None = None

    def description(self) -> str:
        """The rule's message, rendered from its template (never worded here)."""
        fields = self.fields() if callable(self.fields) else self.fields
        return RULES[self.rule].describe(
            self.variant, table=self.table.name, column=self.column, **fields
        )


@dataclass
class _Table:
    """One parsed table: typed contract columns plus raw/empty/malformed columns and POS."""

    name: str
    frame: Any
    present: list[str]
    rows: int
    flags: int = 0
    persisted: list[Any] = field(default_factory=list)

    def has(self, *columns: str) -> bool:
        return all(c in self.present for c in columns)

    def valid(self, column: str) -> SparkColumn:
        from pyspark.sql import functions as F

        return ~(F.col(_empty(column)) | F.col(_bad(column)))

    def usable(self, column: str) -> SparkColumn:
        from pyspark.sql import functions as F

        return ~F.col(_bad(column))

    def flag(self, expression: SparkColumn) -> str:
        """Add a boolean column (null counts as False) and return its name."""
        from pyspark.sql import functions as F

        self.flags += 1
        name = f"_flag{self.flags}"
        self.frame = self.frame.withColumn(name, F.coalesce(expression, F.lit(False)))
        return name


@dataclass
class _Run:
    """State shared by the checks, like features.validation.rules.RuleContext."""

    tables: dict[str, _Table]
    pending: list[_Pending] = field(default_factory=list)
    table_level: list[RuleViolation] = field(default_factory=list)
    order: list[tuple[str, int]] = field(default_factory=list)  # ("level"|"pending", index)
    fk: set[tuple[str, str]] = field(default_factory=set)
    extraction: dt.date | None = None

    def add(self, pending: _Pending) -> None:
        self.order.append(("pending", len(self.pending)))
        self.pending.append(pending)

    def add_table_level(
        self, rule: str, table: str, column: str | None, fields: Mapping[str, object]
    ) -> None:
        self.order.append(("level", len(self.table_level)))
        text = RULES[rule].describe(table=table, column=column, **fields)
        self.table_level.append(
            RuleViolation(table, column, rule, text, 1, (), RULES[rule].severity)
        )

    def table(self, name: str, *columns: str) -> _Table | None:
        table = self.tables.get(name)
        return table if table is not None and table.has(*columns) else None

    def fk_ok(self, table: str, column: str) -> SparkColumn:
        from pyspark.sql import functions as F

        if (table, column) not in self.fk:
            return F.lit(False)
        return F.col(f"_fk_{column}")


# --------------------------------------------------------------------------- reading


def _positions(parsed: DataFrame) -> tuple[SparkColumn, int]:
    """(POS expression, rows) for a persisted frame with ``_mid``: the 0-based row number
    in stored order (see module docstring). Its one job also fills the cache."""
    from pyspark.sql import functions as F

    split = F.shiftright(F.col("_mid"), _SPLIT_BITS)
    counts = sorted((row[0], row[1]) for row in parsed.groupBy(split.alias("s")).count().collect())
    offsets, total = [], 0
    for split_index, count in counts:
        offsets += [F.lit(split_index), F.lit(total)]
        total += count
    within = F.col("_mid").bitwiseAND(F.lit((1 << _SPLIT_BITS) - 1))
    offset = F.create_map(*offsets)[split] if offsets else F.lit(0)
    return (offset + within).cast("long"), total


def _parse_column(column: Column, stored_type: str) -> tuple[SparkColumn, SparkColumn, SparkColumn]:
    """(typed, empty, malformed) Spark expressions for one contract column."""
    from pyspark.sql import functions as F

    raw = F.col(_raw(column.name))
    numeric = stored_type in ("tinyint", "smallint", "int", "bigint", "float", "double") or (
        stored_type.startswith("decimal")
    )
    if column.kind in ("id", "string"):
        text = raw if stored_type == "string" else raw.cast("string")
        empty = text.isNull() | text.rlike(BLANK_PATTERN)
        return F.when(~empty, text), empty, F.lit(False)
    if column.kind == "date":
        empty = raw.isNull()
        if stored_type == "date":
            value, malformed = raw, F.lit(False)
        elif stored_type.startswith("timestamp"):
            value = raw.cast("date")
            malformed = raw.isNotNull() & (F.date_trunc("day", raw) != raw)
        elif numeric or stored_type == "boolean":
            value, malformed = F.lit(None).cast("date"), raw.isNotNull()
        else:
            text = raw if stored_type == "string" else raw.cast("string")
            empty = text.isNull() | text.rlike(BLANK_PATTERN)
            well_formed = text.rlike(r"^\d{4}-\d{2}-\d{2}$")
            value = F.when(~empty & well_formed, F.try_to_date(text, "yyyy-MM-dd"))
            malformed = ~empty & value.isNull()
        out_of_range = value.isNotNull() & ((value < F.lit(MIN_DATE)) | (value > F.lit(MAX_DATE)))
        malformed = malformed | out_of_range
        return F.when(~malformed, value), empty, malformed
    # float
    if numeric:
        value = raw.cast("double")
        empty = value.isNull() | F.isnan(value)
    else:
        text = raw if stored_type == "string" else raw.cast("string")
        empty = text.isNull() | text.rlike(BLANK_PATTERN)
        value = F.when(~empty, text.try_cast("double"))
    infinite = value.isNotNull() & (F.abs(value) == F.lit(float("inf")))
    malformed = (~empty & (value.isNull() | F.isnan(value))) | infinite
    return F.when(~malformed & ~F.isnan(value), value), empty, malformed


def _read(spark: SparkSession, raw_dir: Path, name: str, run: _Run) -> TableInfo:
    """Read, number and parse one table; record file, column and cell findings."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    try:
        location = locate_table(raw_dir, name)
    except RawTableNotFoundError:
        run.add_table_level("file_missing", name, None, {"raw_dir": raw_dir})
        return TableInfo(file=None, rows=None)
    try:
        stored = read_stored(spark, location)
        columns = list(stored.columns)
        wanted = [c.name for c in TABLE_COLUMNS[name] if c.name in columns]
        stored = stored.select(*[F.col(f"`{c}`").alias(_raw(c)) for c in wanted])
        types = dict(stored.dtypes)
        selected = [F.monotonically_increasing_id().alias("_mid")]
        for column in TABLE_COLUMNS[name]:
            if column.name in wanted:
                typed, empty, malformed = _parse_column(column, types[_raw(column.name)])
                selected += [
                    typed.alias(column.name),
                    F.col(_raw(column.name)),
                    empty.alias(_empty(column.name)),
                    malformed.alias(_bad(column.name)),
                ]
        parsed = stored.select(*selected).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            position, rows = _positions(parsed)
        except BaseException:
            parsed.unpersist()
            raise
    except Exception as error:  # Spark raises JVM errors of many classes for a bad file
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        run.add_table_level(
            "file_unreadable", name, None, {"file": location.name, "error": message}
        )
        return TableInfo(file=location.name, rows=None)
    known = {c.name for c in TABLE_COLUMNS[name]}
    for extra in columns:
        if extra not in known:
            run.add_table_level(
                "extra_column",
                name,
                extra,
                {"where": location.name},
            )
    for column in TABLE_COLUMNS[name]:
        if column.name not in wanted:
            run.add_table_level(
                "column_missing",
                name,
                column.name,
                {"kind": column_kind(column)},
            )
    frame = parsed.withColumn(POS, position).drop("_mid")
    table = _Table(name, frame, wanted, rows, persisted=[parsed])
    run.tables[name] = table
    for column in TABLE_COLUMNS[name]:
        if column.name not in wanted:
            continue
        rule = "date_type" if column.kind == "date" else "float_type"
        run.add(
            _Pending(
                rule,
                table,
                column.name,
                _bad(column.name),
                shown=_value_of(_raw(column.name)),
            )
        )
        if not column.nullable:
            run.add(
                _Pending(
                    "not_null",
                    table,
                    column.name,
                    _empty(column.name),
                )
            )
    return TableInfo(file=location.name, rows=rows)


def _value_of(column: str) -> RowFormatter:
    return lambda row: repr(_plain(row[column]))


# ---------------------------------------------------------------------------- checks


def check_unique_keys(run: _Run) -> None:
    """Duplicated keys by a window over the key: one shuffle of the table (an aggregate
    joined back would shuffle it twice)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    for name, key in TABLE_KEYS.items():
        table = run.table(name, key)
        if table is None:
            continue
        same_key = Window.partitionBy(key)
        known = F.col(key).isNotNull()
        mask = table.flag(known & (F.count(F.lit(1)).over(same_key) > 1))
        first = table.flag(F.col(mask) & (F.col(POS) == F.min(POS).over(same_key)))
        run.add(
            _Pending(
                "unique",
                table,
                key,
                mask,
                example_mask=first,
            )
        )
    protected = run.table("protected", "family_id", "attribute")
    if protected is not None:
        pair = ["family_id", "attribute"]
        # id and text columns: valid means known (an empty cell is null), so rows sharing
        # a pair of known values are all valid
        both = protected.valid("family_id") & protected.valid("attribute")
        same_pair = Window.partitionBy(*pair)
        mask = protected.flag(both & (F.count(F.lit(1)).over(same_pair) > 1))
        run.add(
            _Pending(
                "unique",
                protected,
                "family_id+attribute",
                mask,
                variant=PROTECTED_PAIR,
                shown=_value_of("value") if protected.has("value") else None,
            )
        )


def check_foreign_keys(run: _Run) -> None:
    from pyspark.sql import functions as F

    for child_name, column, parent_name, parent_key in FOREIGN_KEYS:
        child = run.table(child_name, column)
        parent = run.table(parent_name, parent_key)
        if child is None or parent is None:
            continue
        keys = (
            parent.frame.where(F.col(parent_key).isNotNull())
            .select(F.col(parent_key).alias("_key"))
            .distinct()
            .withColumn(f"_fk_{column}", F.lit(True))
        )
        if (child_name, column) == ("events", "person_id"):
            keys = _with_person_intervals(run, keys)
        child.frame = (
            child.frame.join(keys, child.frame[column] == keys["_key"], "left")
            .drop("_key")
            .withColumn(f"_fk_{column}", F.coalesce(F.col(f"_fk_{column}"), F.lit(False)))
        )
        run.fk.add((child_name, column))
        mask = child.flag(child.valid(column) & ~F.col(f"_fk_{column}"))
        run.add(
            _Pending(
                "foreign_key",
                child,
                column,
                mask,
                {"parent": parent_name, "parent_key": parent_key},
                shown=_value_of(column),
            )
        )


def check_date_order(run: _Run) -> None:
    from pyspark.sql import functions as F

    for name, earlier, later in DATE_ORDERS:
        table = run.table(name, earlier, later)
        if table is None:
            continue
        bad = (
            F.col(earlier).isNotNull() & F.col(later).isNotNull() & (F.col(later) < F.col(earlier))
        )
        mask = table.flag(bad)
        run.add(
            _Pending(
                "date_order",
                table,
                later,
                mask,
                {"earlier": earlier},
                shown=_order_shown(earlier, later),
            )
        )


def _order_shown(earlier: str, later: str) -> RowFormatter:
    def shown(row: Any) -> str:
        return RULES["date_order"].show(
            column=later,
            later_date=_iso(row[later]),
            earlier=earlier,
            earlier_date=_iso(row[earlier]),
        )

    return shown


def _lateness(happened: str) -> RowFormatter:
    def shown(row: Any) -> str:
        return RULES["backdated_record"].show(days=(row["recorded_date"] - row[happened]).days)

    return shown


def compute_extraction_date(run: _Run) -> None:
    from functools import reduce

    from pyspark.sql import functions as F

    latest = [
        table.frame.select(F.max("recorded_date").alias("d"))
        for name in ("events", "outcomes")
        if (table := run.table(name, "recorded_date")) is not None and table.rows
    ]
    if not latest:
        run.extraction = None
        return
    run.extraction = reduce(lambda a, b: a.unionByName(b), latest).agg(F.max("d")).first()[0]


def check_birth_not_future(run: _Run) -> None:
    from pyspark.sql import functions as F

    persons = run.table("persons", "birth_date")
    if persons is None or run.extraction is None:
        return
    mask = persons.flag(F.col("birth_date") > F.lit(run.extraction))
    run.add(
        _Pending(
            "date_not_future",
            persons,
            "birth_date",
            mask,
            {"extraction": run.extraction},
            shown=_value_of("birth_date"),
        )
    )


def check_vocabularies(run: _Run) -> None:
    from pyspark.sql import functions as F

    for (name, column), allowed in VOCABULARIES.items():
        table = run.table(name, column)
        if table is None:
            continue
        mask = table.flag(table.valid(column) & ~F.col(column).isin(list(allowed)))
        run.add(
            _Pending(
                "vocabulary",
                table,
                column,
                mask,
                {"allowed": tuple(allowed)},
                shown=_value_of(column),
            )
        )


def check_detail_vocabulary(run: _Run) -> None:
    from pyspark.sql import functions as F

    events = run.table("events", "event_type", "detail")
    if events is None:
        return
    bad = F.lit(False)
    for event_type in EVENT_TYPES.values():
        if event_type.details is None:
            continue
        bad = bad | (
            (F.col("event_type") == event_type.name)
            & F.col("detail").isNotNull()
            & ~F.col("detail").isin(list(event_type.details))
        )
    run.add(
        _Pending(
            "detail_vocabulary",
            events,
            "detail",
            events.flag(bad),
            shown=lambda row: RULES["detail_vocabulary"].show(
                event_type=row["event_type"], detail=row["detail"]
            ),
        )
    )


def check_event_subject(run: _Run) -> None:
    from pyspark.sql import functions as F

    events = run.table("events", "family_id", "person_id")
    if events is None:
        return
    mask = events.flag(F.col(_empty("family_id")) & F.col(_empty("person_id")))
    run.add(
        _Pending(
            "event_subject",
            events,
            "family_id+person_id",
            mask,
        )
    )


def _intervals(run: _Run) -> SparkColumn | None:
    """Memberships fit for date arithmetic (ids known, dates parsed and in order), or None."""
    from pyspark.sql import functions as F

    memberships = run.table("memberships", "person_id", "family_id", "start_date", "end_date")
    if memberships is None:
        return None
    if ("memberships", "family_id") not in run.fk or ("memberships", "person_id") not in run.fk:
        return None
    # the date_order rule's mask, restated: the foreign-key join of the events asks for the
    # intervals before that rule has run
    disordered = (
        F.col("start_date").isNotNull()
        & F.col("end_date").isNotNull()
        & (F.col("end_date") < F.col("start_date"))
    )
    order_ok = ~F.coalesce(disordered, F.lit(False))
    return (
        run.fk_ok("memberships", "person_id")
        & run.fk_ok("memberships", "family_id")
        & memberships.valid("start_date")
        & memberships.usable("end_date")
        & order_ok
    )


def check_membership_overlap(run: _Run) -> None:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keep = _intervals(run)
    if keep is None:
        return
    memberships = run.tables["memberships"]
    memberships.frame = memberships.frame.withColumn("_keep", keep)
    end = F.coalesce(F.col("end_date"), F.lit(OPEN_END))
    earlier = (
        Window.partitionBy("_keep", "person_id")
        .orderBy("start_date", POS)
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    running_end = F.max(F.when(F.col("_keep"), end)).over(earlier)
    mask = memberships.flag(F.col("_keep") & (F.col("start_date") <= running_end))
    run.add(
        _Pending(
            "membership_overlap",
            memberships,
            "start_date",
            mask,
            shown=lambda row: _iso(row["start_date"]),
        )
    )


def _with_person_intervals(run: _Run, keys: DataFrame) -> DataFrame:
    """The persons' keys (for the events' foreign key) with each person's kept memberships
    as an array ``_iv`` (family, start, end, row), so the one join of the events by person
    serves the foreign key and both attribution rules (no join per rule, no join back).

    Memberships are few beside events (one or two per person): an array per person is
    small, and the events are shuffled once instead of three times per rule."""
    from pyspark.sql import functions as F

    keep = _intervals(run)
    if keep is None:
        return keys
    memberships = run.tables["memberships"]
    interval = F.struct(
        F.col("start_date").alias("start"),
        F.col(POS).alias("pos"),
        F.coalesce(F.col("end_date"), F.lit(OPEN_END)).alias("end"),
        F.col("family_id").alias("family"),
    )
    per_person = (
        memberships.frame.where(keep)
        .groupBy(F.col("person_id").alias("_iv_person"))
        .agg(F.collect_list(interval).alias("_iv"))
    )
    return keys.join(per_person, keys["_key"] == per_person["_iv_person"], "left").drop(
        "_iv_person"
    )


def _covered(events: _Table, which: SparkColumn, same_family: bool) -> str | None:
    """Flag of the ``which`` events that a kept membership of the person (and, with
    ``same_family``, of the event's family) covers: the membership that started last on or
    before the event date (the one that must cover it when a person's memberships do not
    overlap; ties by row, as the pandas kernel picks). None when the events carry no
    intervals (the foreign keys they need were not checked)."""
    from pyspark.sql import functions as F

    if "_iv" not in events.frame.columns:
        return None

    def candidate(x: SparkColumn) -> SparkColumn:
        started = x["start"] <= F.col("event_date")
        return started & (x["family"] == F.col("family_id")) if same_family else started

    # structs compare field by field: the latest start, then the latest row
    chosen = F.array_max(F.filter(F.col("_iv"), candidate))
    return events.flag(which & (chosen["end"] >= F.col("event_date")))


def check_event_attribution(run: _Run) -> None:
    from pyspark.sql import functions as F

    events = run.table("events", "family_id", "person_id", "event_date")
    if events is None or _intervals(run) is None:
        return
    both = (
        run.fk_ok("events", "family_id")
        & run.fk_ok("events", "person_id")
        & events.valid("event_date")
    )
    covered = _covered(events, both, same_family=True)
    if covered is None:
        return
    mask = events.flag(both & ~F.col(covered))
    run.add(
        _Pending(
            "event_attribution",
            events,
            "family_id+person_id",
            mask,
            shown=lambda row: RULES["event_attribution"].show(
                person_id=row["person_id"],
                family_id=row["family_id"],
                event_date=_iso(row["event_date"]),
            ),
        )
    )


def check_unknown_event_types(run: _Run) -> None:
    from pyspark.sql import functions as F

    events = run.table("events", "event_type")
    if events is None:
        return
    mask = events.flag(events.valid("event_type") & ~F.col("event_type").isin(list(EVENT_TYPES)))

    def listing(frame: _Table = events, mask: str = mask) -> dict[str, object]:
        top = (
            frame.frame.where(F.col(mask))
            .groupBy("event_type")
            .agg(F.count("*").alias("n"), F.min(POS).alias("first"))
            .orderBy(F.desc("n"), "first")
            .limit(UNKNOWN_TYPES_LISTED)
            .collect()
        )
        return {"listing": type_counts((row["event_type"], row["n"]) for row in top)}

    run.add(
        _Pending(
            "unknown_event_type",
            events,
            "event_type",
            mask,
            listing,
            shown=_value_of("event_type"),
        )
    )


def check_backdated(run: _Run) -> None:
    from pyspark.sql import functions as F

    for name, happened in (("events", "event_date"), ("outcomes", "outcome_date")):
        table = run.table(name, happened, "recorded_date")
        if table is None:
            continue
        lag = F.datediff(F.col("recorded_date"), F.col(happened))
        mask = table.flag(lag > BACKDATED_SUSPICIOUS_DAYS)
        run.add(
            _Pending(
                "backdated_record",
                table,
                "recorded_date",
                mask,
                {"happened": happened},
                shown=_lateness(happened),
            )
        )


def check_orphans(run: _Run) -> None:
    from pyspark.sql import functions as F

    memberships = run.table("memberships", "person_id", "family_id")
    if memberships is None:
        return
    for name, key in (("families", "family_id"), ("persons", "person_id")):
        table = run.table(name, key)
        if table is None:
            continue
        members = (
            memberships.frame.where(F.col(key).isNotNull())
            .select(F.col(key).alias("_member"))
            .distinct()
            .withColumn("_has_member", F.lit(True))
        )
        table.frame = table.frame.join(
            members, table.frame[key] == members["_member"], "left"
        ).drop("_member")
        mask = table.flag(table.valid(key) & F.col("_has_member").isNull())
        table.frame = table.frame.drop("_has_member")
        rule = "family_without_members" if name == "families" else "person_without_membership"
        run.add(
            _Pending(
                rule,
                table,
                key,
                mask,
            )
        )


def check_unattributed_events(run: _Run) -> None:
    from pyspark.sql import functions as F

    events = run.table("events", "family_id", "person_id", "event_date")
    if events is None or _intervals(run) is None:
        return
    person_only = (
        F.col(_empty("family_id")) & run.fk_ok("events", "person_id") & events.valid("event_date")
    )
    covered = _covered(events, person_only, same_family=False)
    if covered is None:
        return
    mask = events.flag(person_only & ~F.col(covered))
    run.add(
        _Pending(
            "unattributed_event",
            events,
            "person_id",
            mask,
            shown=_value_of("person_id"),
        )
    )


def check_negative_values(run: _Run) -> None:
    from pyspark.sql import functions as F

    events = run.table("events", "event_type", "value")
    if events is None:
        return
    bad = F.col("event_type").isin(list(VALUED_EVENT_TYPES)) & (F.col("value") < 0)
    run.add(
        _Pending(
            "negative_value",
            events,
            "value",
            events.flag(bad),
            shown=_value_of("value"),
        )
    )


def check_not_empty(run: _Run) -> None:
    report_empty_tables(run, {name: table.rows for name, table in run.tables.items()})


CHECKS: tuple[Callable[[_Run], None], ...] = (
    check_not_empty,
    check_unique_keys,
    check_foreign_keys,
    check_date_order,
    compute_extraction_date,
    check_birth_not_future,
    check_vocabularies,
    check_detail_vocabulary,
    check_event_subject,
    check_membership_overlap,
    check_event_attribution,
    check_unknown_event_types,
    check_backdated,
    check_orphans,
    check_unattributed_events,
    check_negative_values,
)


# ------------------------------------------------------------------------ the report


def _example(table: _Table, row: Row) -> str:
    """How the pandas report names a row: its key, else its 1-based row and ids."""
    key = TABLE_KEYS.get(table.name)
    if key is not None and table.has(key) and row[key] is not None:
        return str(row[key])
    labels = [
        f"{c}={row[c]}"
        for c in ROW_LABEL_COLUMNS.get(table.name, ())
        if table.has(c) and row[c] is not None
    ]
    text = f"row {row[POS] + 1}"
    return f"{text} ({', '.join(labels)})" if labels else text


def _first_rows(table: _Table, shown: list[tuple[int, str]], k: int) -> dict[int, list]:
    """The first ``k`` rows (in stored order) of each mask, in one job for the table."""
    from functools import reduce

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not shown or k == 0:
        return {}
    any_mask = reduce(lambda a, b: a | b, [F.col(mask) for _, mask in shown])
    finding = F.explode(
        F.array_compact(F.array(*[F.when(F.col(mask), F.lit(i)) for i, mask in shown]))
    )
    rank = F.row_number().over(Window.partitionBy("_finding").orderBy(POS))
    rows = (
        table.frame.where(any_mask)
        .withColumn("_finding", finding)
        .withColumn("_rank", rank)
        .where(F.col("_rank") <= k)
        .collect()
    )
    out: dict[int, list] = {}
    for row in sorted(rows, key=lambda r: r[POS]):
        out.setdefault(row["_finding"], []).append(row)
    return out


def _evaluate(run: _Run, max_examples: int) -> list[RuleViolation]:
    """Count every pending finding and fetch the shown examples: two jobs per table."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    counts: dict[int, int] = {}
    examples: dict[int, list] = {}
    for table in run.tables.values():
        mine = [i for i, p in enumerate(run.pending) if p.table is table]
        if not mine:
            continue
        table.frame = table.frame.persist(StorageLevel.MEMORY_AND_DISK)
        table.persisted.append(table.frame)
        sums = table.frame.agg(
            *[F.sum(F.col(run.pending[i].mask).cast("long")).alias(f"c{i}") for i in mine]
        ).first()
        for i in mine:
            counts[i] = int(sums[f"c{i}"] or 0)
        shown = [(i, run.pending[i].example_mask or run.pending[i].mask) for i in mine if counts[i]]
        examples.update(_first_rows(table, shown, max_examples))
    violations: list[RuleViolation] = []
    for kind, index in run.order:
        if kind == "level":
            violations.append(run.table_level[index])
            continue
        pending = run.pending[index]
        count = counts.get(index, 0)
        if count == 0:
            continue
        table = pending.table
        rows = examples.get(index, [])
        named = [_example(table, row) for row in rows]
        if pending.shown is not None:
            named = [f"{e}: {pending.shown(row)}" for e, row in zip(named, rows, strict=True)]
        description = pending.description()
        violations.append(
            RuleViolation(
                table.name,
                pending.column,
                pending.rule,
                description,
                count,
                tuple(named),
                RULES[pending.rule].severity,
            )
        )
    return violations


def _stored_bytes(raw_dir: Path) -> int:
    """Bytes of the tables as stored (what sizes the shuffles)."""
    total = 0
    for name in TABLES:
        try:
            location = locate_table(raw_dir, name)
        except RawTableNotFoundError:
            continue
        paths = location.path.rglob("*") if location.path.is_dir() else [location.path]
        total += sum(p.stat().st_size for p in paths if p.is_file())
    return total


def _optional_present(raw_dir: Path) -> tuple[str, ...]:
    """The optional tables (``contract.OPTIONAL_TABLES``) stored in ``raw_dir``: checked by
    the same declared rules as the others when present, never required."""
    present = []
    for name in OPTIONAL_TABLES:
        try:
            locate_table(raw_dir, name)
        except RawTableNotFoundError:
            continue
        present.append(name)
    return tuple(present)


def validate_raw_dir_spark(
    spark: SparkSession, raw_dir: Path | str, *, max_examples: int = 5
) -> ValidationReport:
    """Validate the six tables of ``raw_dir`` on Spark; the pandas engine's report.

    Raises NotADirectoryError when ``raw_dir`` is not a directory; a missing or unreadable
    table is a finding of the report, as in :func:`features.validation.validate_raw_dir`.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NotADirectoryError(
            f"raw data directory {raw_dir} does not exist or is not a directory"
        )
    run = _Run(tables={})
    partitions = shuffle_partitions_for(spark, _stored_bytes(raw_dir))
    try:
        with session_conf(spark, {"spark.sql.shuffle.partitions": str(partitions)}):
            infos = {
                name: _read(spark, raw_dir, name, run)
                for name in (*TABLES, *_optional_present(raw_dir))
            }
            for check in CHECKS:
                check(run)
            violations = _evaluate(run, max_examples)
    finally:
        for table in run.tables.values():
            for frame in table.persisted:
                frame.unpersist()
    report = ValidationReport(
        errors=[v for v in violations if v.severity == "error"],
        suspicious=[v for v in violations if v.severity == "suspicious"],
        tables=infos,
        source=str(raw_dir),
        extraction_date=None if run.extraction is None else f"{run.extraction:%Y-%m-%d}",
    )
    # the optional corrections table (issue 23), as the pandas engine adds it
    from features.spark.corrections import add_correction_findings_spark

    return add_correction_findings_spark(spark, report, raw_dir, max_examples=max_examples)
