"""A record that a registry passed validation, bound to its files and to the validator.

On Spark, ``features`` and ``score`` validate the registry before they build anything, as
the pandas engine does; on one machine that is minutes at a million families, on a cluster
core-hours at national scale, paid again by every command on the same files. The data
path of a ministry is *validate once, then build*: ``earlyrisk validate --record FILE``
writes this record, and ``features`` / ``score --engine spark --validated FILE`` use it
instead of validating again, but only when

- the record says the registry passed (a record of a failed validation is refused);
- the raw files are byte for byte the ones validated (sha256 over every stored file's
  name and bytes, :func:`features.spark.raw.raw_files_fingerprint`, computed again
  now: a changed, added or removed file refuses the record);
- the validator is the one that wrote it (sha256 over the source of the modules that
  define the rules: a changed rule refuses an older record).

Anything else (no such file, not a record, another registry's record) is refused with an
error that names the file and what differs; the commands then write nothing. A record
guards against mistakes, not against forgery: whoever can edit it can edit the registry.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from pydantic import BaseModel, ConfigDict, ValidationError

import features.contract
import features.spark.event_checks
import features.spark.raw
import features.spark.stored
import features.spark.validation
import features.validation
from features.spark.raw import raw_files_fingerprint
from features.validation.report import ValidationReport

RECORD_KIND = "earlyrisk.validation_record"


def _validator_modules() -> tuple[ModuleType, ...]:
    """The modules whose source decides what "valid" means: the contract, every module of
    :mod:`features.validation` (rules, messages, parsing, kernels; listed, not named, so a
    module added there is covered without editing this list), the Spark driver of those
    rules, its tasks, and the way Spark reads the tables."""
    package = features.validation
    own = sorted(
        info.name for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")
    )
    return (
        features.contract,
        *(importlib.import_module(name) for name in own),
        features.spark.validation,
        features.spark.event_checks,
        features.spark.stored,
        features.spark.raw,
    )


_VALIDATOR_MODULES = _validator_modules()


class ValidationRecordError(ValueError):
    """The record cannot stand for a validation of this registry now; says why."""


class ValidationRecord(BaseModel):
    """What ``validate --record`` writes (JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = RECORD_KIND
    ok: bool
    raw_dir: str
    raw_files_sha256: str
    validator_sha256: str
    validated_at: str
    rules_broken: list[str]


def validator_fingerprint() -> str:
    """sha256 over the source files of the validator's modules, in a fixed order."""
    digest = hashlib.sha256()
    for module in _VALIDATOR_MODULES:
        source = Path(module.__file__ or "")
        digest.update(f"{module.__name__};".encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def record_of(report: ValidationReport, raw_dir: Path | str) -> ValidationRecord:
    """The record of ``report`` on ``raw_dir`` (its files fingerprinted now)."""
    return ValidationRecord(
        ok=report.ok,
        raw_dir=str(Path(raw_dir).resolve()),
        raw_files_sha256=raw_files_fingerprint(raw_dir),
        validator_sha256=validator_fingerprint(),
        validated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rules_broken=sorted({rule for _, _, rule in report.rules_broken()}),
    )


def write_record(report: ValidationReport, raw_dir: Path | str, path: Path | str) -> Path:
    """Write the record of ``report`` on ``raw_dir`` to ``path`` (replaced if it exists)."""
    path = Path(path)
    path.write_text(record_of(report, raw_dir).model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def trusted_record(path: Path | str, raw_dir: Path | str) -> ValidationRecord:
    """The record at ``path`` if it stands for a passed validation of ``raw_dir`` as its
    files are now, by this validator; raises :class:`ValidationRecordError` otherwise."""
    path = Path(path)
    try:
        record = ValidationRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationRecordError(f"validation record {path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValidationError, json.JSONDecodeError) as error:
        raise ValidationRecordError(
            f"{path} is not a validation record written by `earlyrisk validate --record`: "
            f"{str(error).splitlines()[0]}"
        ) from None
    if record.kind != RECORD_KIND:
        raise ValidationRecordError(f"{path}: kind {record.kind!r} is not {RECORD_KIND!r}")
    if not record.ok:
        broken = ", ".join(record.rules_broken) or "some rule"
        raise ValidationRecordError(
            f"{path} records a registry that failed validation ({broken}); fix the data "
            "and validate again"
        )
    validator = validator_fingerprint()
    if record.validator_sha256 != validator:
        raise ValidationRecordError(
            f"{path} was written by another version of the validator "
            f"({record.validator_sha256[:12]}, this one is {validator[:12]}); validate again"
        )
    current = raw_files_fingerprint(raw_dir)
    if record.raw_files_sha256 != current:
        raise ValidationRecordError(
            f"the raw files of {raw_dir} are not the ones {path} records (sha256 "
            f"{current[:12]}, recorded {record.raw_files_sha256[:12]} for {record.raw_dir}): "
            "a file changed, was added or was removed since; validate again"
        )
    return record
