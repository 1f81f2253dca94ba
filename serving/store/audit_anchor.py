"""The audit log's anchor: a small file outside the log that remembers the log existed.

Deleting the log (with its -wal/-shm) or putting an older copy in its place leaves no trace
inside the log itself. The anchor, a JSON file next to the log by default
(``.<log name>.anchor.json``, so ``rm audit_log.sqlite*`` does not take it along) or
wherever ``EARLYRISK_AUDIT_ANCHOR_PATH`` says, records the log's id and a recent head
(``seq`` and hash). At start-up the service refuses a missing log, a log with another id,
a log whose entry at the anchored ``seq`` is gone or has another hash, and a log with no
anchor at all (deleted with it, or never anchored). Beginning a log is an explicit act
(``earlyrisk serve --new-log``, recorded in the security log); the old anchor is kept in
the new one's ``retired`` list. While the service runs the anchor is refreshed at a fixed
interval and at shutdown, each time only after the log proved it still holds the anchored
hash (:meth:`serving.store.audit_log.AuditLogBase.refresh_anchor`).

The anchor is rewritten atomically (temporary file, fsync, rename), created 0600.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from features.errors import EarlyriskError
from serving.store.audit_checkpoint import Checkpoint


class AnchorError(EarlyriskError, RuntimeError):
    """The anchor file exists but cannot be read as an anchor."""


@dataclass(frozen=True)
class Anchor:
    """What the anchor keeps about the log it guards."""

    log_path: str
    log_id: str
    created_at: str
    head_seq: int
    head_hash: str
    anchored_at: str
    retired: list[dict[str, Any]] = field(default_factory=list)

    def checkpoint(self) -> Checkpoint:
        """The anchored entry as a checkpoint (compared like any other)."""
        return Checkpoint(
            log_id=self.log_id,
            seq=self.head_seq,
            hash=self.head_hash,
            time=self.anchored_at,
            log=self.log_path,
        )


def default_anchor_path(log_path: Path) -> Path:
    """``.<log name>.anchor.json`` in the log's directory."""
    return log_path.with_name(f".{log_path.name}.anchor.json")


def read_anchor(path: Path) -> Anchor | None:
    """The anchor at path, None when there is none; AnchorError when it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AnchorError(f"cannot read the audit-log anchor {path}: {exc}") from exc
    try:
        data = json.loads(text)
        return Anchor(
            log_path=str(data["log_path"]),
            log_id=str(data["log_id"]),
            created_at=str(data["created_at"]),
            head_seq=int(data["head_seq"]),
            head_hash=str(data["head_hash"]),
            anchored_at=str(data["anchored_at"]),
            retired=list(data.get("retired", [])),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise AnchorError(
            f"the audit-log anchor {path} is not a valid anchor ({exc}); it was damaged or "
            "edited by hand"
        ) from exc


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Replace the anchor atomically (0600 temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(asdict(anchor), indent=2).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
