"""Pandera schemas of the six raw tables in their in-memory shape (the data boundary).

These state what every consumer of :class:`features.raw.RawTables` may rely on: exactly the
contract's columns in order, ids/strings as pandas ``str``, dates ``datetime64[ns]``,
``events.value`` float64, nulls only where the contract allows them, unique keys and the
closed vocabularies. :func:`features.validation.load_validated` checks its result against
them, so a change of in-memory types (a pandas upgrade, a new reader) fails loudly.

They are a boundary assertion, not the validator: the contract's cross-table rules
(foreign keys, overlapping memberships, event attribution, ...) and the row-by-row report
live in :mod:`features.validation.rules`, which is vectorized for registries of millions
of rows and never stops at the first problem.
"""

from __future__ import annotations

import sys

from features.contract import TABLE_COLUMNS, TABLES, UNIQUE_KEYS, VOCABULARIES
from features.raw import DATE_DTYPE, RawTables

# pandera imports pyspark.pandas at its own import whenever pyspark is installed (the Spark
# engine's extra): seconds of start-up and, with pyspark 4.3 and pandas >= 3, a FutureWarning
# ("not fully supported") on every command and in every worker process, though no path of
# this project runs pandas-on-Spark. pandera treats an ImportError there as "no pyspark", so
# the module is hidden from the import system (a None entry in sys.modules, Python's
# documented way to make an import fail) for the length of pandera's import only: `pyspark`
# itself when nothing loaded it yet (a pandas-engine command never loads it at all),
# `pyspark.pandas` when something did (MLflow imports `pyspark` when it is installed). A
# warning filter would not do: `warnings.catch_warnings` is process-wide, and a thread that
# leaves its own block restores the filters under another thread's import.
_HIDDEN = next(m for m in ("pyspark", "pyspark.pandas", "") if m not in sys.modules)
if _HIDDEN:
    sys.modules[_HIDDEN] = None  # type: ignore[assignment]
try:
    import pandera.pandas as pa
finally:
    if _HIDDEN and sys.modules.get(_HIDDEN, 0) is None:
        del sys.modules[_HIDDEN]

_DTYPES = {"id": str, "string": str, "date": DATE_DTYPE, "float": "float64"}


def _schema(table: str, *, values: bool) -> pa.DataFrameSchema:
    """The schema of ``table``; ``values=False`` keeps only columns, dtypes and nulls."""
    columns = {}
    for column in TABLE_COLUMNS[table]:
        checks = []
        if values and (table, column.name) in VOCABULARIES:
            checks.append(pa.Check.isin(VOCABULARIES[(table, column.name)]))
        if values and column.kind in ("id", "string") and not column.nullable:
            checks.append(pa.Check.str_length(min_value=1))
        columns[column.name] = pa.Column(
            _DTYPES[column.kind],
            checks=checks,
            nullable=column.nullable,
            unique=values and UNIQUE_KEYS.get(table) == (column.name,),
        )
    key = UNIQUE_KEYS.get(table, ())
    unique = list(key) if values and len(key) > 1 else None
    return pa.DataFrameSchema(
        columns, name=table, strict=True, ordered=True, unique=unique, coerce=False
    )


RAW_SCHEMAS: dict[str, pa.DataFrameSchema] = {t: _schema(t, values=True) for t in TABLES}
"""Full schemas: shape, dtypes, nulls, unique keys, vocabularies, non-empty text."""

RAW_SHAPE_SCHEMAS: dict[str, pa.DataFrameSchema] = {t: _schema(t, values=False) for t in TABLES}
"""Shape-only schemas: columns in order, dtypes, nulls (cheap on millions of rows)."""


def validate_schemas(tables: RawTables, *, values: bool = True) -> RawTables:
    """Check every table against its schema; return the tables unchanged.

    ``values=False`` checks the shape only; :func:`features.validation.load_validated`
    uses it on data its vectorized rules just checked, where pandera's value checks
    would repeat the work several times slower. Raises ``pandera.errors.SchemaErrors``
    (all failures of the first failing table, named by the schema's table name).
    """
    schemas = RAW_SCHEMAS if values else RAW_SHAPE_SCHEMAS
    for name, frame in tables.items():
        schemas[name].validate(frame, lazy=True)
    return tables
