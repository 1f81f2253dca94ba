"""The connection shape the stores' shared query code needs (no driver import).

Every store runs the same ``?``-marked SQL on a SQLite connection or on
:class:`serving.store.connection.QmarkConnection` (PostgreSQL); typing their connection as
these protocols lets both dialects share that code without casts. Kept apart from
:mod:`serving.store.connection` so the audit log can use :func:`page_query` without
importing a driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Protocol


class SqlCursor(Protocol):
    """The rows of one statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchmany(self, size: int, /) -> list[Any]: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """A connection with SQLite's call shape: ``execute(sql, params)`` and ``with conn:``."""

    def execute(self, sql: str, parameters: Any = ..., /) -> SqlCursor: ...

    def executemany(self, sql: str, rows: Any, /) -> object: ...

    def close(self) -> None: ...

    def __enter__(self) -> SqlConnection: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool | None: ...


def page_query(
    table: str,
    columns: Sequence[str],
    *,
    after_seq: int,
    limit: int,
    equals: tuple[str, Any] | None = None,
) -> tuple[str, list[Any]]:
    """The SQL (``?`` marks) and parameters of one page of an append-only log: the rows with
    ``seq > after_seq`` (and ``column = value`` when ``equals`` is given) in seq order, at
    most ``limit``; a keyed range scan in both dialects."""
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE seq > ?"
    params: list[Any] = [after_seq]
    if equals is not None:
        sql += f" AND {equals[0]} = ?"
        params.append(equals[1])
    return sql + " ORDER BY seq LIMIT ?", [*params, limit]
