"""Is the audit log's schema still the one its migrations made: triggers there, none recreated?

The append-only triggers stop an honest client; anyone with write access can drop them, do
what they came to do, and create them again. Nothing here restores a trigger: a missing,
disabled or recreated trigger is *reported* (by `earlyrisk audit-log verify`, and by
`earlyrisk serve` into the security log), because silently putting it back would erase the
evidence that someone took it away.

A recreated trigger looks like the original, so each migration records a fingerprint of
the schema in ``audit_meta`` (:data:`serving.store.migrations.SCHEMA_FINGERPRINT_KEY`): SQLite's
schema cookie, which every CREATE and DROP changes, and PostgreSQL's object ids of the
audit tables and triggers, which a recreated object does not keep.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from serving.store.migrations import (
    AUDIT_TRIGGERS,
    SCHEMA_FINGERPRINT_KEY,
    postgres_schema_fingerprint,
    sqlite_schema_fingerprint,
)


def trigger_findings(conn: Any, dialect: Literal["sqlite", "postgresql"]) -> list[str]:
    """What is wrong with the audit log's append-only triggers and schema (empty: nothing).

    Reads only. A log whose migrations recorded no fingerprint (made before they did) is
    checked for missing triggers only.
    """
    if dialect == "sqlite":
        present = {
            str(row[0]): True
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
    else:
        present = {
            str(name): enabled != "D"
            for name, enabled in conn.execute(
                "SELECT tgname::text, tgenabled::text FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid IN (to_regclass('audit_entries'), to_regclass('audit_meta'), "
                "to_regclass('audit_anchor'))"
            ).fetchall()
        }
    findings = []
    for name in AUDIT_TRIGGERS[dialect]:
        if name not in present:
            findings.append(
                f"append-only trigger {name} is missing: it was dropped (by someone with "
                "write access to the log); it is not restored automatically"
            )
        elif not present[name]:
            findings.append(f"append-only trigger {name} is disabled (ALTER TABLE ... DISABLE)")
    row = conn.execute(
        "SELECT value FROM audit_meta WHERE key = ?", (SCHEMA_FINGERPRINT_KEY,)
    ).fetchone()
    if row is None:
        return findings
    recorded = str(row[0])
    if dialect == "sqlite":
        now = sqlite_schema_fingerprint(conn)
        if now != recorded:
            findings.append(
                f"the log's schema was changed after its last migration (schema version {now}, "
                f"recorded {recorded}): a trigger, index or table was dropped or recreated "
                "(a VACUUM of the file also changes it)"
            )
        return findings
    before, after = json.loads(recorded), json.loads(postgres_schema_fingerprint(conn))
    for name, oid in sorted(before.items()):
        if name in after and after[name] != oid:
            findings.append(
                f"{name} was dropped and recreated after its migration (object id {after[name]}, "
                f"recorded {oid})"
            )
    return findings
