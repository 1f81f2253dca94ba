"""Every table of the service's state is declared here, and only here.

A small script runner rather than Alembic: a few tables, two dialects, and one migration
that must rewrite rows (chaining an old audit log), which is plain Python either way.
Each store (``audit``, ``tokens``, ``security``, ``served_stats``) has an ordered list of
migrations per dialect; ``schema_migrations(store, version, description, applied_at)``
records which ran, in the same database (PostgreSQL) or file (SQLite). ``earlyrisk db
upgrade`` applies what is missing, each migration in its own transaction.

**When a store opens** it calls :func:`ensure`: a new, empty database (file) gets the
store's tables from these migrations; a database whose schema is behind is refused with
a message that says to run ``earlyrisk db upgrade``. Nothing else creates or alters a
table when a store opens.

**Tables derived from the snapshot** (the lookup store's ``family_features``, the region
and audit-group indexes) are not migrated: they are copies of the feature snapshot,
rebuilt whenever the snapshot or the feature list changes, and their columns are the
model's inputs. Their ``CREATE TABLE`` is still declared here (:func:`snapshot_table_sql`,
:data:`META_TABLE_SQL`), so one file holds every table of the service.

SQLite files made before this runner existed carry no ``schema_migrations`` table; their
version is read from the shape of the table once (a baseline) and recorded.

**The audit tables are declared here and nowhere else**: the current schema of each
dialect, what each release had, and the triggers. A new SQLite log gets the current schema
from :func:`create_sqlite_audit` (not a replay of every migration), a PostgreSQL one from
the migrations in order. Audit migration 4 (SQLite) and 3 (PostgreSQL) record the
schema's fingerprint in ``audit_meta``, so a trigger dropped and recreated afterwards is
reported (:mod:`serving.store.audit_triggers`); PostgreSQL's 3 also makes the
``audit_anchor`` table, the database's counterpart of the SQLite log's anchor file. Audit
migration 5 (SQLite) and 4 (PostgreSQL) let the log take ``governance`` entries
(`earlyrisk model` acts); SQLite's rebuild records the fingerprint anew.

**Chaining an audit log from the first release** (audit migration 2 on SQLite). Those
logs have no hash chain, and the service refuses them. The migration chains the old
entries at migration time: it rebuilds the table with the chain columns, computes each
old entry's hash in ``seq`` order, and records in ``audit_meta`` when that was done and
through which entry (``chained_at``, ``chained_through_seq``). The chain therefore proves
the old entries unchanged *since the migration*, not before it; `earlyrisk audit-log
verify` reports this. A gap in the old ``seq`` values (entries missing) cannot be chained
honestly, so the migration refuses and names it (archive such a log instead).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psycopg

from serving.store.audit_chain import GENESIS, HASHED_COLUMNS, entry_hash
from serving.store.audit_errors import AuditLogRefused
from serving.store.connection import POSTGRES as POSTGRES_DIALECT
from serving.store.connection import SQLITE as SQLITE_DIALECT
from serving.store.connection import Dialect

if TYPE_CHECKING:
    from serving.store.connection import Database

# --------------------------------------------------------------------------- audit tables
# The one place the audit log's tables, indexes and triggers are declared (both dialects);
# the log itself (serving.store.audit_log) only runs on them and creates a new log with
# :func:`create_sqlite_audit`.

#: The kinds of entry the current schema accepts (``EntryKind`` in the log, as SQL).
AUDIT_KINDS: tuple[str, ...] = (
    "score",
    "feedback",
    "batch_run",
    "view",
    "governance",
    # round 7: a case's events, a family's explanation record, a correction of the data,
    # a shadow model's score, a sealed rollout assignment, a retention act (prune)
    "case",
    "dossier",
    "correction",
    "shadow",
    "rollout",
    "retention",
)
#: The stored columns: what the hash covers, then the hash itself.
AUDIT_COLUMNS: tuple[str, ...] = (*HASHED_COLUMNS, "entry_hash")

# Each stored column's declaration after ``seq`` and ``kind`` (declared by the dialect and the
# kinds a schema accepts); a probability is REAL in SQLite, DOUBLE PRECISION in PostgreSQL.
_AUDIT_DECLARED: dict[str, str] = {
    "recorded_at": "TEXT NOT NULL",
    "request_id": "TEXT NOT NULL",
    "token_id": "TEXT NOT NULL",
    "role": "TEXT NOT NULL",
    "endpoint": "TEXT NOT NULL",
    "score_id": "TEXT NOT NULL",
    "family_id": "TEXT",
    "as_of": "TEXT",
    "model_version": "TEXT",
    "probability": "REAL",
    "risk_level": "TEXT",
    "reasons": "TEXT",
    "decision": "TEXT",
    "reason": "TEXT",
    "detail": "TEXT",
    "prev_hash": "TEXT NOT NULL",
    "entry_hash": "TEXT NOT NULL",
}


def kinds_sql(kinds: Sequence[str]) -> str:
    """The SQL list of a CHECK on ``kind`` (both dialects): ``('score', 'feedback')``."""
    return "(" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


#: The kinds a log accepts, as the SQL list of its CHECK constraint (both dialects).
AUDIT_KINDS_SQL = kinds_sql(AUDIT_KINDS)


def audit_table_sql(
    *,
    dialect: Literal["sqlite", "postgresql"] = "sqlite",
    kinds: Sequence[str] = AUDIT_KINDS,
    columns: Sequence[str] = AUDIT_COLUMNS,
    if_not_exists: bool = True,
    autoincrement: bool = False,
) -> str:
    """The ``CREATE TABLE audit_entries`` statement: the current SQLite one by default.

    Each schema migration names what its release had (its kinds, its columns,
    ``AUTOINCREMENT`` in the first SQLite release). In PostgreSQL, where replicas append
    concurrently, ``prev_hash`` is also UNIQUE: two entries can never link to the same one
    (the chain cannot fork).
    """
    postgres = dialect == "postgresql"
    seq = "BIGINT PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    declared = [
        f"seq {seq}{' AUTOINCREMENT' if autoincrement else ''}",
        f"kind TEXT NOT NULL CHECK (kind IN {kinds_sql(kinds)})",
    ]
    for column in columns:
        if column in ("seq", "kind"):
            continue
        declaration = _AUDIT_DECLARED[column]
        if postgres and column == "probability":
            declaration = "DOUBLE PRECISION"
        if postgres and column == "prev_hash":
            declaration += " UNIQUE"
        declared.append(f"{column} {declaration}")
    exists = "IF NOT EXISTS " if if_not_exists else ""
    body = ",\n    ".join(declared)
    return f"CREATE TABLE {exists}audit_entries (\n    {body}\n)"


#: One score has one score entry (both dialects).
SCORE_ID_INDEX_SQL = (
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_score_id ON audit_entries (score_id) "
    "WHERE kind = 'score'"
)
#: Which decision on a score is current (the latest): a keyed read, not a scan.
FEEDBACK_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS audit_feedback_score ON audit_entries (score_id, seq) "
    "WHERE kind = 'feedback'"
)
#: SQLite's append-only triggers on the entries (PostgreSQL's are in ``_PG_AUDIT``).
SQLITE_APPEND_ONLY_SQL = (
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
)
#: The append-only triggers each dialect's current audit schema has (what is reported
#: when one is missing or was recreated, never silently restored).
AUDIT_TRIGGERS: dict[str, tuple[str, ...]] = {
    "sqlite": ("audit_no_update", "audit_no_delete", "audit_meta_no_update"),
    "postgresql": (
        "audit_no_change",
        "audit_no_truncate",
        "audit_meta_no_update",
        "audit_anchor_no_change",
        "audit_anchor_no_truncate",
    ),
}

#: The current SQLite audit schema (a new log, and what migrations 2 and 3 rebuild to).
AUDIT_SQLITE_SCHEMA = (
    audit_table_sql(),
    SCORE_ID_INDEX_SQL,
    "CREATE INDEX IF NOT EXISTS audit_runs ON audit_entries (request_id) WHERE kind = 'batch_run'",
    FEEDBACK_INDEX_SQL,
    # a family's score history and the decisions on it (/family, /review): a keyed read
    # (not a partial index: SQLite cannot use one whose WHERE is an IN list for kind = ?)
    "CREATE INDEX IF NOT EXISTS audit_family_kind ON audit_entries (family_id, kind, seq)",
    *SQLITE_APPEND_ONLY_SQL,
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """
    CREATE TRIGGER IF NOT EXISTS audit_meta_no_update BEFORE UPDATE ON audit_meta
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
    """,
)

#: Where the fingerprint of the log's schema is kept in ``audit_meta``: SQLite's schema
#: cookie (``PRAGMA schema_version``, which every CREATE or DROP changes), PostgreSQL's
#: object ids of the audit tables and triggers (a recreated one has a new id).
SCHEMA_FINGERPRINT_KEY = "schema_fingerprint"


def sqlite_schema_fingerprint(conn: sqlite3.Connection) -> str:
    """SQLite's schema cookie: any DROP or CREATE in the file changes it."""
    return str(conn.execute("PRAGMA schema_version").fetchone()[0])


def postgres_schema_fingerprint(conn: Any) -> str:
    """The object ids of the audit tables and their triggers, as sorted JSON."""
    tables = "to_regclass('audit_entries'), to_regclass('audit_meta'), to_regclass('audit_anchor')"
    rows = conn.execute(
        f"SELECT relname::text, oid::bigint FROM pg_class WHERE oid IN ({tables}) "
        f"UNION ALL SELECT tgname::text, oid::bigint FROM pg_trigger "
        f"WHERE NOT tgisinternal AND tgrelid IN ({tables})"
    ).fetchall()
    return json.dumps({str(name): int(oid) for name, oid in rows}, sort_keys=True)


def _record_fingerprint(conn: Any, fingerprint: str, mark: str) -> None:
    """Keep the schema's fingerprint as it is after the last audit migration (the meta
    table refuses UPDATE; a later migration that changes the schema deletes and records
    anew, as this one does)."""
    conn.execute(f"DELETE FROM audit_meta WHERE key = {mark}", (SCHEMA_FINGERPRINT_KEY,))
    conn.execute(
        f"INSERT INTO audit_meta VALUES ({mark}, {mark})", (SCHEMA_FINGERPRINT_KEY, fingerprint)
    )


#: Advisory-lock key that serializes schema changes between replicas and `db upgrade`.
SCHEMA_LOCK_KEY = 0x45_52_53_43  # "ERSC"
#: Advisory-lock key that serializes audit-log appends (one chain, never forked).
AUDIT_LOCK_KEY = 0x45_52_41_4C  # "ERAL"
#: Advisory-lock key under which one replica (re)loads the snapshot while others wait.
LOOKUP_LOCK_KEY = 0x45_52_4C_4B  # "ERLK"

_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (store TEXT NOT NULL, version INTEGER NOT "
    "NULL, description TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (store, version))"
)


class MigrationError(AuditLogRefused):
    """A schema cannot be brought up to date (or is behind): the stores must not be used
    until it is; the message says why and what to do."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Migration:
    """One step of one store's schema: run inside a transaction on ``conn``."""

    store: str
    version: int
    description: str
    apply: Callable[[Any], None]


# --------------------------------------------------------------------------- PostgreSQL

_PG_AUDIT = (
    audit_table_sql(
        dialect="postgresql", kinds=("score", "feedback", "batch_run"), if_not_exists=False
    ),
    "CREATE UNIQUE INDEX audit_score_id ON audit_entries (score_id) WHERE kind = 'score'",
    "CREATE INDEX audit_runs ON audit_entries (request_id) WHERE kind = 'batch_run'",
    "CREATE INDEX audit_feedback_score ON audit_entries (score_id, seq) WHERE kind = 'feedback'",
    "CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """
    CREATE FUNCTION earlyrisk_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$
    """,
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_entries "
    "FOR EACH ROW EXECUTE FUNCTION earlyrisk_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION earlyrisk_append_only()",
    "CREATE TRIGGER audit_meta_no_update BEFORE UPDATE ON audit_meta "
    "FOR EACH ROW EXECUTE FUNCTION earlyrisk_append_only()",
)

_PG_TOKENS = (
    """
    CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY,
        token_sha256 TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL,
        note TEXT,
        revoked_at TEXT,
        expires_at TEXT,
        last_used_at TEXT,
        regions TEXT
    )
    """,
)


def _security_events_sql(dialect: Dialect) -> str:
    """The security log's table (the same columns in both dialects; IF NOT EXISTS adopts
    the table the SQLite log made itself before it was migrated)."""
    exists = "IF NOT EXISTS " if dialect.name == "sqlite" else ""
    return f"""
    CREATE TABLE {exists}security_events (
        seq {dialect.serial_key},
        recorded_at TEXT NOT NULL,
        event TEXT NOT NULL,
        request_id TEXT NOT NULL,
        token_id TEXT,
        endpoint TEXT NOT NULL,
        client TEXT,
        detail TEXT
    )
    """


_PG_SECURITY = (
    _security_events_sql(POSTGRES_DIALECT),
    "CREATE TRIGGER security_no_change BEFORE UPDATE OR DELETE ON security_events "
    "FOR EACH ROW EXECUTE FUNCTION earlyrisk_append_only()",
    "CREATE TRIGGER security_no_truncate BEFORE TRUNCATE ON security_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION earlyrisk_append_only()",
)


def _run_all(statements: tuple[str, ...]) -> Callable[[Any], None]:
    def apply(conn: Any) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


def _pg_audit_meta(conn: Any) -> None:
    conn.execute(
        "INSERT INTO audit_meta VALUES ('log_id', %s), ('created_at', %s)",
        (uuid.uuid4().hex, _now()),
    )


def _pg_audit(conn: Any) -> None:
    _run_all(_PG_AUDIT)(conn)
    _pg_audit_meta(conn)


# Audit migration 2: caseworkers' views of a family (``/family``, ``/review``) are entries of
# kind ``view``, and a family's history is a keyed read. Rows are not touched (the chain
# stays as it was); the old CHECK has PostgreSQL's default name for a column constraint.
_PG_AUDIT_V2 = (
    "ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_kind_check",
    "ALTER TABLE audit_entries ADD CONSTRAINT audit_entries_kind_check "
    f"CHECK (kind IN {AUDIT_KINDS_SQL})",
    "CREATE INDEX audit_family_kind ON audit_entries (family_id, kind, seq)",
)

# Audit migration 4: `earlyrisk model` acts and a service's switch to a new champion are
# entries of kind ``governance`` (the CHECK names the current kinds; tables and triggers
# keep their ids, so the recorded fingerprint stays true).
_PG_AUDIT_V4 = (
    "ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_kind_check",
    "ALTER TABLE audit_entries ADD CONSTRAINT audit_entries_kind_check "
    f"CHECK (kind IN {AUDIT_KINDS_SQL})",
)

# Audit migration 3: the anchor lives in the database (one table every replica appends a
# checkpoint to; the current anchor is the latest row), append-only like the log, and the
# ids of the audit tables and triggers are recorded, so a dropped-and-recreated trigger is
# reported rather than taken for the original.
_PG_AUDIT_V3 = (
    """
    CREATE TABLE audit_anchor (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        log_id TEXT NOT NULL,
        head_seq BIGINT NOT NULL,
        head_hash TEXT NOT NULL,
        anchored_at TEXT NOT NULL,
        reason TEXT NOT NULL
    )
    """,
    "CREATE TRIGGER audit_anchor_no_change BEFORE UPDATE OR DELETE ON audit_anchor "
    "FOR EACH ROW EXECUTE FUNCTION earlyrisk_append_only()",
    "CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor "
    "FOR EACH STATEMENT EXECUTE FUNCTION earlyrisk_append_only()",
)


def _pg_audit_anchor(conn: Any) -> None:
    _run_all(_PG_AUDIT_V3)(conn)
    _record_fingerprint(conn, postgres_schema_fingerprint(conn), "%s")


# Review sessions (issue 20 item 7): the review page's server-side sessions; the id is
# stored hashed, bound to a token id, ended at sign-out, on idle and with its token.
_REVIEW_SESSIONS = (
    """
    CREATE TABLE review_sessions (
        session_sha256 TEXT PRIMARY KEY,
        token_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        ended_at TEXT,
        ended_why TEXT
    )
    """,
    "CREATE INDEX review_sessions_token ON review_sessions (token_id)",
)

# Served statistics: running totals, no family id (serving/store/served_stats.py). IF NOT
# EXISTS adopts the table the service made itself before it was migrated.
_SERVED_STATS = (
    "CREATE TABLE IF NOT EXISTS served_stats (model_name TEXT NOT NULL, model_version TEXT "
    "NOT NULL, served_on TEXT NOT NULL, as_of TEXT NOT NULL, kind TEXT NOT NULL, name TEXT "
    "NOT NULL, bin TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (model_name, "
    "model_version, served_on, as_of, kind, name, bin))",
)


# Cases (issue 21): one score per family, snapshot and model version, its status, the
# decision in force and the follow-up (serving/store/cases.py); the decisions' history (each
# names the one it superseded), the used form tokens (a double submit records once) and
# which snapshot's flagged families were scored (once, by one process).
def _cases_sql(dialect: Dialect) -> tuple[str, ...]:
    real = dialect.float_type
    return (
        f"""
        CREATE TABLE cases (
            model_version TEXT NOT NULL,
            as_of TEXT NOT NULL,
            family_id TEXT NOT NULL,
            region TEXT,
            score_id TEXT NOT NULL,
            probability {real} NOT NULL,
            risk_level TEXT NOT NULL CHECK (risk_level IN ('low', 'elevated', 'high')),
            opened_at TEXT NOT NULL,
            first_flagged TEXT,
            status TEXT NOT NULL CHECK (status IN ('new', 'viewed', 'decided')),
            viewed_at TEXT,
            decision_seq BIGINT,
            decision TEXT,
            decision_reason TEXT,
            decided_by TEXT,
            decided_at TEXT,
            follow_up TEXT,
            PRIMARY KEY (model_version, as_of, family_id)
        )
        """,
        "CREATE INDEX cases_list ON cases (model_version, as_of, risk_level, probability)",
        # the worklist's counts per status: read from the index alone
        "CREATE INDEX cases_status ON cases "
        "(model_version, as_of, risk_level, region, status, follow_up)",
        "CREATE INDEX cases_score ON cases (score_id)",
        "CREATE INDEX cases_family ON cases (family_id)",
        """
        CREATE TABLE case_decisions (
            audit_seq BIGINT PRIMARY KEY,
            model_version TEXT NOT NULL,
            as_of TEXT NOT NULL,
            family_id TEXT NOT NULL,
            score_id TEXT NOT NULL,
            decision TEXT NOT NULL,
            reason TEXT NOT NULL,
            token_id TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            follow_up TEXT,
            supersedes_seq BIGINT
        )
        """,
        "CREATE INDEX case_decisions_case ON case_decisions "
        "(model_version, as_of, family_id, audit_seq)",
        "CREATE TABLE case_forms (form_token TEXT PRIMARY KEY, claimed_at TEXT NOT NULL, "
        "audit_seq BIGINT)",
        "CREATE TABLE case_batches (model_version TEXT NOT NULL, as_of TEXT NOT NULL, "
        "claimed_at TEXT NOT NULL, built_at TEXT, families INTEGER, "
        "PRIMARY KEY (model_version, as_of))",
    )


# Corrections (issue 23): what a family contests and what a registry officer decided
# (serving/store/corrections.py). At most one open correction per record: a partial
# unique index, so two replicas cannot both file one.
_CORRECTIONS = (
    """
    CREATE TABLE corrections (
        correction_id TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        record_table TEXT NOT NULL,
        record_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('void', 'amend')),
        field TEXT,
        new_value TEXT,
        document_ref TEXT NOT NULL,
        requested_date TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        decided_date TEXT,
        decided_at TEXT,
        decided_by TEXT,
        status TEXT NOT NULL CHECK (status IN ('requested', 'accepted', 'rejected'))
    )
    """,
    "CREATE UNIQUE INDEX corrections_one_open ON corrections (record_table, record_id) "
    "WHERE status = 'requested'",
    "CREATE INDEX corrections_family ON corrections (family_id, status)",
)

POSTGRES: tuple[Migration, ...] = (
    # audit before security: it creates the shared append-only trigger function
    Migration("audit", 1, "hash-chained, append-only audit log", _pg_audit),
    Migration("audit", 2, "view entries; a family's history by index", _run_all(_PG_AUDIT_V2)),
    Migration("audit", 3, "anchor table; audit schema fingerprint recorded", _pg_audit_anchor),
    Migration("audit", 4, "governance entries", _run_all(_PG_AUDIT_V4)),
    Migration(
        "audit",
        5,
        "case, dossier, correction, shadow, rollout and retention entries",
        _run_all(_PG_AUDIT_V4),
    ),
    Migration("tokens", 1, "hashed tokens with expiry, last use and regions", _run_all(_PG_TOKENS)),
    Migration("security", 1, "append-only security events", _run_all(_PG_SECURITY)),
    Migration("review_sessions", 1, "server-side review-page sessions", _run_all(_REVIEW_SESSIONS)),
    Migration("served_stats", 1, "served statistics totals", _run_all(_SERVED_STATS)),
    Migration(
        "cases", 1, "cases, their decisions and follow-ups", _run_all(_cases_sql(POSTGRES_DIALECT))
    ),
    Migration("corrections", 1, "contested records and their decisions", _run_all(_CORRECTIONS)),
)

# --------------------------------------------------------------------------- SQLite

# The first release's columns: the current ones before the hash chain.
_OLD_COLUMNS = tuple(c for c in AUDIT_COLUMNS if c not in {"detail", "prev_hash", "entry_hash"})

_SQLITE_AUDIT_V1 = (
    audit_table_sql(
        kinds=("score", "feedback"), columns=_OLD_COLUMNS, if_not_exists=False, autoincrement=True
    ),
    SCORE_ID_INDEX_SQL,
    FEEDBACK_INDEX_SQL,
    *SQLITE_APPEND_ONLY_SQL,
)


def _sqlite_chain_old_log(conn: sqlite3.Connection) -> None:
    """Audit migration 2: rebuild the first release's table with the hash chain.

    Old entries are chained now, in seq order, and ``audit_meta`` records when and through
    which seq (see the module docstring); a gap in seq is refused, never papered over.
    """
    rows = conn.execute(
        f"SELECT {', '.join(_OLD_COLUMNS)} FROM audit_entries ORDER BY seq"
    ).fetchall()
    for expected, row in enumerate(rows, start=1):
        if int(row[0]) != expected:
            raise MigrationError(
                f"the audit log's entries jump from seq {expected - 1} to {row[0]} (entries "
                "missing): it cannot be chained honestly. Archive it (move it and its "
                "-wal/-shm away) and begin a new log with `earlyrisk serve --new-audit-log`"
            )
    for name in ("audit_no_update", "audit_no_delete"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute("DROP INDEX IF EXISTS audit_score_id")
    conn.execute("DROP INDEX IF EXISTS audit_feedback_score")
    conn.execute("ALTER TABLE audit_entries RENAME TO audit_entries_v1")
    for statement in AUDIT_SQLITE_SCHEMA:
        conn.execute(statement)
    prev = GENESIS
    values = []
    for row in rows:
        entry: dict[str, Any] = dict.fromkeys(AUDIT_COLUMNS)
        entry.update(zip(_OLD_COLUMNS, row, strict=True))
        entry["prev_hash"] = prev
        entry["entry_hash"] = prev = entry_hash(entry)
        values.append(tuple(entry[c] for c in AUDIT_COLUMNS))
    marks = ", ".join("?" for _ in AUDIT_COLUMNS)
    conn.executemany(
        f"INSERT INTO audit_entries ({', '.join(AUDIT_COLUMNS)}) VALUES ({marks})", values
    )
    conn.execute("DROP TABLE audit_entries_v1")
    at = _now()
    conn.executemany(
        "INSERT OR IGNORE INTO audit_meta VALUES (?, ?)",
        [
            ("log_id", uuid.uuid4().hex),
            ("created_at", at),
            ("chained_at", at),
            ("chained_through_seq", str(len(rows))),
        ],
    )


def _sqlite_audit_kinds(conn: sqlite3.Connection) -> str:
    """The CREATE statement of the audit table (its CHECK names the kinds it accepts)."""
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_entries'"
    ).fetchone()
    return str(row[0]) if row is not None else ""


def _sqlite_rebuild_for_kind(conn: sqlite3.Connection, kind: str) -> None:
    """Make the audit table accept entries of ``kind`` (and the current indexes).

    SQLite cannot change a CHECK in place, so a table whose CHECK lacks the kind is
    rebuilt: every row is copied as it is (same seq, same hashes: the chain is untouched),
    then the old table is dropped, all in the migration's transaction. A table that already
    accepts the kind only gets what is missing of the current schema.
    """
    if f"'{kind}'" not in _sqlite_audit_kinds(conn):
        for name in ("audit_no_update", "audit_no_delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name in ("audit_score_id", "audit_runs", "audit_feedback_score", "audit_family_kind"):
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute("ALTER TABLE audit_entries RENAME TO audit_entries_old")
        for statement in AUDIT_SQLITE_SCHEMA:
            conn.execute(statement)
        columns = ", ".join(AUDIT_COLUMNS)
        conn.execute(
            f"INSERT INTO audit_entries ({columns}) SELECT {columns} FROM audit_entries_old "
            "ORDER BY seq"
        )
        conn.execute("DROP TABLE audit_entries_old")
    for statement in AUDIT_SQLITE_SCHEMA:
        conn.execute(statement)


def _sqlite_view_entries(conn: sqlite3.Connection) -> None:
    """Audit migration 3: accept ``view`` entries, index a family's history."""
    _sqlite_rebuild_for_kind(conn, "view")


def _sqlite_governance_entries(conn: sqlite3.Connection) -> None:
    """Audit migration 5: accept ``governance`` entries (`earlyrisk model` acts and the
    service's switch to a new champion); the rebuild changes the schema cookie, so the
    fingerprint is recorded anew."""
    _sqlite_rebuild_for_kind(conn, "governance")
    _record_fingerprint(conn, sqlite_schema_fingerprint(conn), "?")


def _sqlite_due_process_entries(conn: sqlite3.Connection) -> None:
    """Audit migration 6: accept the entries of cases, explanation records, corrections,
    shadow scores, rollout seals and retention acts (one rebuild for all six: the CHECK is
    rewritten from :data:`AUDIT_KINDS`), and record the new schema fingerprint."""
    _sqlite_rebuild_for_kind(conn, "retention")
    _record_fingerprint(conn, sqlite_schema_fingerprint(conn), "?")


def _sqlite_fingerprint(conn: sqlite3.Connection) -> None:
    """Audit migration 4: record the schema cookie, so that a trigger dropped and recreated
    later is reported (the migration restores nothing: a missing trigger stays reported)."""
    _record_fingerprint(conn, sqlite_schema_fingerprint(conn), "?")


_SQLITE_TOKENS_V1 = (
    "CREATE TABLE tokens (token_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL, role TEXT "
    "NOT NULL, created_at TEXT NOT NULL, note TEXT, revoked_at TEXT)",
)


def _sqlite_token_expiry(conn: sqlite3.Connection) -> None:
    """Tokens migration 2: expiry, last use and regions; old tokens expire 90 days after
    their creation (what the token store does at open for a store made before)."""
    from serving.auth import DEFAULT_TTL_DAYS

    for column in ("expires_at", "last_used_at", "regions"):
        conn.execute(f"ALTER TABLE tokens ADD COLUMN {column} TEXT")
    conn.execute(
        f"UPDATE tokens SET expires_at = datetime(created_at, '+{DEFAULT_TTL_DAYS} days') "
        "WHERE expires_at IS NULL"
    )


_SQLITE_SECURITY_V1 = (
    _security_events_sql(SQLITE_DIALECT),
    """
    CREATE TRIGGER IF NOT EXISTS security_no_update BEFORE UPDATE ON security_events
    BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS security_no_delete BEFORE DELETE ON security_events
    BEGIN SELECT RAISE(ABORT, 'the security log is append-only'); END
    """,
)

SQLITE: tuple[Migration, ...] = (
    Migration("audit", 1, "append-only audit log (first release)", _run_all(_SQLITE_AUDIT_V1)),
    Migration(
        "audit", 2, "hash chain; batch-run entries; old entries chained now", _sqlite_chain_old_log
    ),
    Migration("audit", 3, "view entries; a family's history by index", _sqlite_view_entries),
    Migration("audit", 4, "audit schema fingerprint recorded", _sqlite_fingerprint),
    Migration("audit", 5, "governance entries", _sqlite_governance_entries),
    Migration(
        "audit",
        6,
        "case, dossier, correction, shadow, rollout and retention entries",
        _sqlite_due_process_entries,
    ),
    Migration("tokens", 1, "hashed tokens (first release)", _run_all(_SQLITE_TOKENS_V1)),
    Migration("tokens", 2, "token expiry, last use and regions", _sqlite_token_expiry),
    Migration("review_sessions", 1, "server-side review-page sessions", _run_all(_REVIEW_SESSIONS)),
    Migration("security", 1, "append-only security events", _run_all(_SQLITE_SECURITY_V1)),
    Migration("served_stats", 1, "served statistics totals", _run_all(_SERVED_STATS)),
    Migration(
        "cases", 1, "cases, their decisions and follow-ups", _run_all(_cases_sql(SQLITE_DIALECT))
    ),
    Migration("corrections", 1, "contested records and their decisions", _run_all(_CORRECTIONS)),
)

#: The table each store's baseline (a file from before the runner) is read from.
_TABLES = {
    "audit": "audit_entries",
    "tokens": "tokens",
    "security": "security_events",
    "served_stats": "served_stats",
    "review_sessions": "review_sessions",
}


def latest(migrations: tuple[Migration, ...], store: str) -> int:
    """The newest schema version of store."""
    return max(m.version for m in migrations if m.store == store)


def create_sqlite_audit(conn: sqlite3.Connection) -> None:
    """Make a new SQLite audit log at the current schema, inside the caller's transaction.

    A new log is not built by replaying every migration (the chaining migration would
    record a chaining that never happened): it gets the current schema, its random id and
    creation time, one ``schema_migrations`` row at the latest version, and last the
    schema fingerprint (after every CREATE, which each change it).
    """
    for statement in AUDIT_SQLITE_SCHEMA:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO audit_meta VALUES ('log_id', ?), ('created_at', ?)",
        (uuid.uuid4().hex, _now()),
    )
    conn.execute(_MIGRATIONS_TABLE)
    conn.execute(
        "INSERT INTO schema_migrations VALUES ('audit', ?, 'new log at the current schema', ?)",
        (latest(SQLITE, "audit"), _now()),
    )
    _record_fingerprint(conn, sqlite_schema_fingerprint(conn), "?")


# --------------------------------------------------------------------------- runners


def _sqlite_baseline(conn: sqlite3.Connection, store: str) -> int:
    """The version of a file made before schema_migrations existed, from its shape."""
    table = _TABLES.get(store)
    if table is None:  # a store born with the runner has no shape to read: a new file
        return 0
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if not columns:
        return 0
    if store == "audit":
        if "entry_hash" not in columns:
            return 1
        return 3 if "'view'" in _sqlite_audit_kinds(conn) else 2
    if store == "tokens":
        return 2 if "expires_at" in columns else 1
    return 1  # security, served_stats: one version so far


def sqlite_version(conn: sqlite3.Connection, store: str) -> int:
    """The recorded (or, for an older file, baseline) schema version of store in conn."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if has_table is not None:
        row = conn.execute(
            "SELECT MAX(version) FROM schema_migrations WHERE store = ?", (store,)
        ).fetchone()
        if row[0] is not None:
            return int(row[0])
    return _sqlite_baseline(conn, store)


def upgrade_sqlite(path: str | Path, store: str) -> list[str]:
    """Bring the SQLite file of one store to the latest version; what was applied."""
    return _migrate_sqlite(path, store, only_new=False)


def ensure_sqlite(path: str | Path, store: str) -> None:
    """Create store's tables in a new SQLite file; refuse a file whose schema is behind
    (the message names `earlyrisk db upgrade`) or ahead (a newer release made it)."""
    _migrate_sqlite(path, store, only_new=True)


def _behind(where: str, behind: Sequence[str]) -> MigrationError:
    return MigrationError(
        f"the schema of {where} is behind: {', '.join(behind)}; run `earlyrisk db upgrade` "
        "first (it applies the missing migrations and keeps every row)"
    )


def _migrate_sqlite(path: str | Path, store: str, *, only_new: bool) -> list[str]:
    """Apply the missing migrations of store to the file (all of them, or, with
    ``only_new``, only to a file without the store's tables, refusing one that is behind)."""
    conn = sqlite3.connect(path, isolation_level=None)
    applied: list[str] = []
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = sqlite_version(conn, store)
            newest = latest(SQLITE, store)
            if current > newest:
                raise MigrationError(
                    f"the {store} schema of {path} is at version {current}, newer than this "
                    f"release knows ({newest}): run the release that made it"
                )
            if only_new and 0 < current < newest:
                raise _behind(str(path), [f"{store} at {current} (latest {newest})"])
            if only_new and current == newest:
                conn.execute("COMMIT")  # up to date: a store's open writes nothing
                return applied
            conn.execute(_MIGRATIONS_TABLE)
            recorded = conn.execute(
                "SELECT COUNT(*) FROM schema_migrations WHERE store = ?", (store,)
            ).fetchone()[0]
            if not recorded and current:
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                    (store, current, "baseline: schema found in place", _now()),
                )
            for step in SQLITE:
                if step.store == store and step.version > current:
                    step.apply(conn)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                        (store, step.version, step.description, _now()),
                    )
                    applied.append(f"{store} {step.version}: {step.description}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return applied


def postgres_versions(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Each store's recorded schema version in the database (0 when absent)."""
    conn.execute(_MIGRATIONS_TABLE)
    rows = conn.execute(
        "SELECT store, MAX(version) FROM schema_migrations GROUP BY store"
    ).fetchall()
    found = {str(store): int(version) for store, version in rows}
    return {m.store: found.get(m.store, 0) for m in POSTGRES}


def upgrade_postgres(url: str) -> list[str]:
    """Apply every missing PostgreSQL migration (under the schema advisory lock)."""
    from serving.store.connection import connect

    conn = connect(url, autocommit=False)
    applied: list[str] = []
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            current = postgres_versions(conn)
        for step in POSTGRES:
            if step.version <= current[step.store]:
                continue
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                if postgres_versions(conn)[step.store] >= step.version:
                    continue  # another process applied it meanwhile
                step.apply(conn)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, %s, %s)",
                    (step.store, step.version, step.description, _now()),
                )
            applied.append(f"{step.store} {step.version}: {step.description}")
        conn.commit()
    finally:
        conn.close()
    return applied


def ensure_postgres(url: str) -> None:
    """Create the schema in an empty database; refuse one that is behind.

    A fresh database is set up by the first replica to start (the advisory lock keeps a
    second one waiting). A database with an older schema is not changed behind the
    operator's back: the message says to run `earlyrisk db upgrade`.
    """
    from serving.store.connection import connect

    conn = connect(url)
    try:
        current = postgres_versions(conn)
    finally:
        conn.close()
    if all(v == 0 for v in current.values()):
        upgrade_postgres(url)
        return
    behind = [
        f"{store} at {version} (latest {latest(POSTGRES, store)})"
        for store, version in current.items()
        if version < latest(POSTGRES, store)
    ]
    if behind:
        raise _behind("the database", behind)


def ensure(db: Database, store: str) -> None:
    """What a store calls when it opens: its tables made in a new database, a database
    whose schema is behind refused (:class:`MigrationError` naming `earlyrisk db upgrade`).

    PostgreSQL is one database for every store, so it is checked (and, when empty, set
    up) as a whole; each SQLite file is one store's.
    """
    from serving.store.connection import DatabaseUnavailable

    if db.url is not None:
        ensure_postgres(db.url)
        return
    assert db.path is not None
    try:
        ensure_sqlite(db.path, store)
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"database {db.where} unavailable: {exc}") from exc


# --------------------------------------------------------------------------- derived tables

#: The key/value table a derived table's build records what it was built from in.
META_TABLE_SQL = "CREATE TABLE {name} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def snapshot_table_sql(dialect: Dialect, table: str, columns: Sequence[tuple[str, str]]) -> str:
    """The ``CREATE TABLE`` of a table derived from the snapshot: keyed by ``(as_of,
    family_id)`` (clustered on SQLite), then ``columns`` as (quoted name, type)."""
    cols = "".join(f", {name} {kind}" for name, kind in columns)
    suffix = " WITHOUT ROWID" if dialect.name == "sqlite" else ""
    return (
        f"CREATE TABLE {table} (as_of TEXT NOT NULL, family_id TEXT NOT NULL{cols}, "
        f"PRIMARY KEY (as_of, family_id)){suffix}"
    )
