"""Every table of the service is declared in serving/store/migrations.py and nowhere else.

The scan reads the project's source as text (any ``CREATE TABLE`` in a string or a
docstring counts: a declaration hidden in an f-string is still one), so a store that
creates its own table again fails this test.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The project's packages (tests build old schemas on purpose, so they are not scanned).
PACKAGES = ("serving", "features", "training", "earlyrisk")
MIGRATIONS = Path("serving/store/migrations.py")
#: The audit log's tables are still declared in its own module, which the audit-log lane
#: owns and is moving into serving/store/; this names exactly what is let through until then.
AUDIT_LOG_TABLES = {"audit_entries", "audit_meta"}

_DECLARATION = re.compile(
    r"CREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_{][\w{}]*)",
    re.IGNORECASE,
)


def declarations_outside_migrations(root: Path) -> list[str]:
    """``path:line: table`` of each table declaration under root's packages outside
    serving/store/migrations.py (the audit log's own tables in audit_log.py excepted)."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if relative == MIGRATIONS:
                continue
            text = path.read_text(encoding="utf-8")
            for match in _DECLARATION.finditer(text):
                table = match.group(1)
                bare = re.sub(r"^\{\w+\}", "", table)  # f"CREATE TABLE {exists}audit_entries"
                if path.name == "audit_log.py" and bare in AUDIT_LOG_TABLES:
                    continue
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{relative}:{line}: {table}")
    return found


def test_no_table_is_declared_outside_the_migrations() -> None:
    assert declarations_outside_migrations(ROOT) == []


def test_the_scan_catches_a_declaration_elsewhere(tmp_path: Path) -> None:
    """The constructed bad case: a store that declares its table itself is named; the same
    statement in the migrations module is not."""
    store = tmp_path / "serving" / "store"
    store.mkdir(parents=True)
    (store / "migrations.py").write_text(
        'TOKENS = "CREATE TABLE tokens (token_id TEXT PRIMARY KEY)"\n', encoding="utf-8"
    )
    (store / "tokens.py").write_text(
        '"""Tokens."""\n\n_SCHEMA = """\ncreate table if not exists tokens (token_id TEXT)\n"""\n',
        encoding="utf-8",
    )
    (store / "lookup.py").write_text(
        'def build(conn, name):\n    conn.execute(f"CREATE TABLE {name}_new (a TEXT)")\n',
        encoding="utf-8",
    )
    (store / "audit_log.py").write_text(
        'S = "CREATE TABLE audit_entries (seq INTEGER)"\nT = "CREATE TABLE tokens (a TEXT)"\n',
        encoding="utf-8",
    )
    assert declarations_outside_migrations(tmp_path) == [
        "serving/store/audit_log.py:2: tokens",
        "serving/store/lookup.py:2: {name}_new",
        "serving/store/tokens.py:4: tokens",
    ]
