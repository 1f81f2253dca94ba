"""A checkpoint of the audit log: (log id, seq, hash, time), and whether a log still holds it.

Every kind of tail evidence is a checkpoint: the anchor the service keeps (a file next to
a SQLite log, rows of ``audit_anchor`` in PostgreSQL), the checkpoint the service holds in
memory between two refreshes, and the file an auditor exports with ``earlyrisk audit-log
anchor --out FILE`` and keeps where the operator cannot write. They are all compared the
same way, by :func:`tail_problem`: the log must still have the checkpoint's id, reach its
``seq``, and hold the checkpoint's hash *at* that ``seq``. Comparing sequence numbers alone
is not enough: entries cut from the end are followed by new ones that take the same
numbers, with other hashes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.errors import EarlyriskError

#: What an exported checkpoint file says it is (so a wrong file is named as such).
CHECKPOINT_FORMAT = "earlyrisk-audit-checkpoint/1"


class CheckpointError(EarlyriskError, ValueError):
    """A checkpoint file that cannot be read as one (the message names the file)."""


@dataclass(frozen=True)
class Checkpoint:
    """One point of the chain someone recorded: the log's id, an entry and its hash."""

    log_id: str
    seq: int
    hash: str
    time: str
    log: str = ""  # the log it was taken of (a path, or a URL without its password)

    def describe(self) -> str:
        """``seq 12 hash 3f1c... (2026-12-07T04:00:00+00:00)``, for messages."""
        return f"seq {self.seq} hash {self.hash} ({self.time})"


def tail_problem(
    checkpoint: Checkpoint,
    *,
    log_id: str | None,
    head: tuple[int, str],
    stored_hash: str | None,
    source: str,
    pruned: tuple[int, str] | None = None,
) -> str | None:
    """Why the log does not hold ``checkpoint`` (None when it does).

    ``head`` is the log's last ``(seq, hash)``, ``stored_hash`` the log's hash at the
    checkpoint's ``seq`` (None when there is no such entry); ``source`` names where the
    checkpoint came from in the message (``the anchor``, ``the checkpoint FILE``);
    ``pruned`` is the latest prune's ``(through_seq, hash)``: a checkpoint inside the pruned
    prefix is held when it agrees with it (the prune's checkpoint is a chained entry, and
    the walk proves the first entry left links to it).
    """
    if log_id != checkpoint.log_id:
        return (
            f"the log is log {log_id}, but {source} records log {checkpoint.log_id}: "
            "another log was put in its place"
        )
    if checkpoint.seq == 0:
        return None
    if pruned is not None and checkpoint.seq <= pruned[0]:
        if checkpoint.seq == pruned[0] and checkpoint.hash != pruned[1]:
            return (
                f"entry seq {checkpoint.seq} was pruned with hash {pruned[1]}, but {source} "
                f"recorded hash {checkpoint.hash} at {checkpoint.time}"
            )
        return None
    if head[0] < checkpoint.seq:
        return (
            f"the log ends at seq {head[0]} (hash {head[1]}), before the entry {source} "
            f"records, seq {checkpoint.seq} with hash {checkpoint.hash} ({checkpoint.time}): "
            "entries were cut from the end, or an older copy was restored"
        )
    if stored_hash is None:
        return (
            f"entry seq {checkpoint.seq}, which {source} records with hash {checkpoint.hash} "
            f"({checkpoint.time}), is missing"
        )
    if stored_hash != checkpoint.hash:
        return (
            f"entry seq {checkpoint.seq} has hash {stored_hash}, but {source} recorded hash "
            f"{checkpoint.hash} at {checkpoint.time}: entries were cut and others written in "
            "their place, or an older copy was restored"
        )
    return None


def write_checkpoint(path: Path, checkpoint: Checkpoint, *, overwrite: bool = False) -> None:
    """Write the checkpoint as JSON, created 0600; an existing file only with ``overwrite``.

    Raises FileExistsError when the file exists and ``overwrite`` is False.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {
            "format": CHECKPOINT_FORMAT,
            "log_id": checkpoint.log_id,
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "time": checkpoint.time,
            "log": checkpoint.log,
        },
        indent=2,
    ).encode("utf-8")
    if not overwrite:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint in ``path``: an exported one, or the service's anchor file (same
    facts under the anchor's names), so either can be given to ``verify --anchor``."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint file at {path}") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint: {exc}") from exc
    try:
        if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
            return Checkpoint(
                log_id=str(data["log_id"]),
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                time=str(data["time"]),
                log=str(data.get("log", "")),
            )
        if isinstance(data, dict) and "head_seq" in data:
            return Checkpoint(
                log_id=str(data["log_id"]),
                seq=int(data["head_seq"]),
                hash=str(data["head_hash"]),
                time=str(data["anchored_at"]),
                log=str(data.get("log_path", "")),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a valid checkpoint ({exc!r} is wrong)") from exc
    raise CheckpointError(
        f"{path} is neither an exported checkpoint ({CHECKPOINT_FORMAT}) nor an audit-log anchor"
    )
